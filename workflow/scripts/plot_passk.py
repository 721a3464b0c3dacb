"""Figure: base-model pass@k against k, one line per model x task."""
from alignrl.workflow.jobserver import forward_to_job_server

forward_to_job_server(globals())  # returns only where this job runs in its own process

import pandas as pd

from alignrl.analysis.tables import plot_passk_curves
from alignrl.core.runtime import log_to

with log_to(snakemake.log[0]):
    plot_passk_curves(pd.read_csv(snakemake.input[0]), snakemake.params.evaluation["ks"], snakemake.output[0])
