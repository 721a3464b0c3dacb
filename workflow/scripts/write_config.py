"""The finalized configuration of this run, as YAML."""
from alignrl.workflow.jobserver import forward_to_job_server

forward_to_job_server(globals())  # returns only where this job runs in its own process

import yaml

from alignrl.core.runtime import log_to

with log_to(snakemake.log[0]):
    with open(snakemake.output[0], "w") as fh:
        yaml.safe_dump(dict(snakemake.params.config), fh, sort_keys=False)
