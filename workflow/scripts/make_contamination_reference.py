"""Fresh problems from the task's generator that lie outside all its splits: the probe's never-seen set."""
from alignrl.workflow.jobserver import forward_to_job_server

forward_to_job_server(globals())  # returns only where this job runs in its own process

from alignrl.claims.contamination import reference_problems
from alignrl.claims.rows import problems_to_rows, read_rows, write_rows
from alignrl.claims.tasks import get_task
from alignrl.core.runtime import log_to

with log_to(snakemake.log[0]):
    seen = {row["extra_info"]["question"] for path in snakemake.input.splits for row in read_rows(path)}
    task = get_task(snakemake.params.generator)
    problems = reference_problems(task.name, snakemake.params.size, snakemake.params.seed, seen)
    rows = problems_to_rows(problems, snakemake.wildcards.task, task.ability, "contamination_reference",
                            snakemake.params.template)
    write_rows(rows, snakemake.output[0])
    print(f"{len(rows)} reference problems, none among {len(seen)} split questions")
