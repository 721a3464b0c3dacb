"""Figure 1: before / after RL for each claim, in strong and weak model-task alignment cells."""
from alignrl.workflow.jobserver import forward_to_job_server

forward_to_job_server(globals())  # returns only where this job runs in its own process

import pandas as pd

from alignrl.analysis.tables import plot_figure1
from alignrl.core.runtime import log_to

with log_to(snakemake.log[0]):
    tables = [pd.read_csv(path) for path in snakemake.input]
    plotted = plot_figure1(tables, snakemake.params.bars, "pass@1", snakemake.output.png)
    plotted.to_csv(snakemake.output.csv, index=False)
    print(plotted.to_string())
