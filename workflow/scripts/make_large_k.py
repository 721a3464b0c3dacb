"""pass@k curves up to large k for base and trained models, and where the base model catches up."""
from alignrl.workflow.jobserver import forward_to_job_server

forward_to_job_server(globals())  # returns only where this job runs in its own process

from alignrl.analysis import registry
from alignrl.core.runtime import log_to

with log_to(snakemake.log[0]):
    built = registry.run_job(registry.LARGE_K, snakemake)
    print(built.frames["crossings"].to_string())
