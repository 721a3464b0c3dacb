"""Write one split of a hub task (train / val from the train dataset, or a benchmark) in verl's row format."""
from alignrl.workflow.jobserver import forward_to_job_server

forward_to_job_server(globals())  # returns only where this job runs in its own process

from alignrl.backends.hub_data import prepare_split
from alignrl.claims.rows import write_rows
from alignrl.core.runtime import log_to

with log_to(snakemake.log[0]):
    cfg = snakemake.params.task
    w = snakemake.wildcards
    rows = prepare_split(w.task, w.split, cfg, cfg["ability"], snakemake.params.template)
    write_rows(rows, snakemake.output[0])
    print(f"{w.task}/{w.split}: {len(rows)} rows -> {snakemake.output[0]}")
