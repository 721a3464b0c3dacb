"""Figure: each dial claim's gain over base against base pass@k."""
from alignrl.workflow.jobserver import forward_to_job_server

forward_to_job_server(globals())  # returns only where this job runs in its own process

import pandas as pd

from alignrl.analysis.dial import plot_dial
from alignrl.core.runtime import log_to

with log_to(snakemake.log[0]):
    plot_dial(pd.read_csv(snakemake.input[0]), snakemake.params.alignment, snakemake.params.verdict,
              snakemake.output[0])
