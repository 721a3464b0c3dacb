"""results/robustness.csv and .md: per-seed, pooled and leave-one-seed-out verdicts of every claim x cell."""
from alignrl.workflow.jobserver import forward_to_job_server

forward_to_job_server(globals())  # returns only where this job runs in its own process

from alignrl.analysis import registry
from alignrl.core.runtime import log_to

with log_to(snakemake.log[0]):
    built = registry.run_job("robustness", snakemake)
    print(built.frames["csv"].drop(columns=["metrics_files"]).to_string())
