"""Figure 1: each claim's gain over the base model per alignment class, with the pass@k inset."""
from alignrl.workflow.jobserver import forward_to_job_server

forward_to_job_server(globals())  # returns only where this job runs in its own process

from alignrl.analysis import registry
from alignrl.core.runtime import log_to

with log_to(snakemake.log[0]):
    built = registry.run_job(registry.FIGURE1, snakemake)
    print(built.frames["csv"].to_string())
