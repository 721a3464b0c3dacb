"""results/verdicts.csv and a one-page summary in words above the table (results/verdicts.md)."""
from alignrl.workflow.jobserver import forward_to_job_server

forward_to_job_server(globals())  # returns only where this job runs in its own process

from alignrl.analysis import registry
from alignrl.core.runtime import log_to

with log_to(snakemake.log[0]):
    built = registry.run_job("verdicts", snakemake)
    print(built.frames["csv"].drop(columns=["metrics_files"]).to_string())
