"""results/dial.csv: each dial claim's gain over its level's base model, against that model's alignment."""
from alignrl.workflow.jobserver import forward_to_job_server

forward_to_job_server(globals())  # returns only where this job runs in its own process

from alignrl.analysis import registry
from alignrl.core.runtime import log_to

with log_to(snakemake.log[0]):
    built = registry.run_job("dial", snakemake)
    print(built.markdown)
