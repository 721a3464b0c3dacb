"""Write a synthetic task's train / val / test splits in verl's row format."""
from alignrl.workflow.jobserver import forward_to_job_server

forward_to_job_server(globals())  # returns only where this job runs in its own process

from alignrl.claims.rows import problems_to_rows, write_rows
from alignrl.core.runtime import log_to
from alignrl.claims.tasks import get_task, make_splits

with log_to(snakemake.log[0]):
    cfg = snakemake.params.task
    task = get_task(cfg["generator"])
    splits = make_splits(task, cfg["split_sizes"], cfg["seed"])
    for split, problems in splits.items():
        rows = problems_to_rows(problems, snakemake.wildcards.task, task.ability, split, snakemake.params.template)
        write_rows(rows, snakemake.output[split])
        print(f"{snakemake.wildcards.task}/{split}: {len(rows)} rows -> {snakemake.output[split]}")
