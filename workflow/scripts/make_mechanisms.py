"""results/mechanisms.csv: the mechanism controls, a claims table of the config's `mechanisms:` claims."""
from alignrl.workflow.jobserver import forward_to_job_server

forward_to_job_server(globals())  # returns only where this job runs in its own process

from alignrl.analysis import registry
from alignrl.core.runtime import log_to

with log_to(snakemake.log[0]):
    built = registry.run_job(registry.MECHANISMS, snakemake)
    print(built.frames["csv"].to_string())
