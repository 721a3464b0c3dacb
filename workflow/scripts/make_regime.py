"""results/regime.csv and .md: the regime statistics of every claim-table run, from its run_info.json."""
from alignrl.workflow.jobserver import forward_to_job_server

forward_to_job_server(globals())  # returns only where this job runs in its own process

from alignrl.analysis import registry
from alignrl.core.runtime import log_to

with log_to(snakemake.log[0]):
    built = registry.run_job("regime", snakemake)
    print(built.frames["csv"].drop(columns=["run_info"]).to_string())
