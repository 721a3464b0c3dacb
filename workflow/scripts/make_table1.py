"""Table 1: base-model pass@k per model x task (model-task alignment) and the base models' traits."""
from alignrl.workflow.jobserver import forward_to_job_server

forward_to_job_server(globals())  # returns only where this job runs in its own process

from alignrl.analysis import registry
from alignrl.core.runtime import log_to

with log_to(snakemake.log[0]):
    built = registry.run_job("table1", snakemake)
    print(built.frames["csv"].to_string())
