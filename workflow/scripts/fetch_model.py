"""Make models/{model} a Hugging Face directory of a hub model: a local copy, or a download by hub id."""
from alignrl.workflow.jobserver import forward_to_job_server

forward_to_job_server(globals())  # returns only where this job runs in its own process

from alignrl.backends.hub_models import fetch_model
from alignrl.core.runtime import log_to

with log_to(snakemake.log[0]):
    print(fetch_model(snakemake.wildcards.model, snakemake.params.model, snakemake.output[0]))
