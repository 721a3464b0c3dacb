"""Make models/{model} a Hugging Face directory of a hub model: a local copy, or a download by hub id."""
from alignrl.hub_models import fetch_model
from alignrl.runtime import log_to

with log_to(snakemake.log[0]):
    print(fetch_model(snakemake.wildcards.model, snakemake.params.model, snakemake.output[0]))
