"""Write one split (train, val or test) of a synthetic task in verl's row format.

All three splits come from one seeded draw (`make_splits`, disjoint by construction), so the job draws
them all and writes the one asked for: its bytes do not depend on which split ran first."""
from alignrl.workflow.jobserver import forward_to_job_server

forward_to_job_server(globals())  # returns only where this job runs in its own process

from alignrl.claims.rows import problems_to_rows, write_rows
from alignrl.claims.tasks import make_splits
from alignrl.core.runtime import log_to
from alignrl.workflow.task_options import sampler_task

with log_to(snakemake.log[0]):
    cfg = snakemake.params.task
    task = sampler_task(cfg)  # configured with the task's generator_options
    split = snakemake.wildcards.split
    problems = make_splits(task, cfg["split_sizes"], cfg["seed"])[split]
    rows = problems_to_rows(problems, snakemake.wildcards.task, task.ability, split, snakemake.params.template)
    write_rows(rows, snakemake.output[0])
    print(f"{snakemake.wildcards.task}/{split}: {len(rows)} rows -> {snakemake.output[0]}")
