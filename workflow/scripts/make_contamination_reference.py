"""Two disjoint sets of fresh problems from the task's generator, outside all its splits: the probe's
never-seen reference set, and the null set whose gap to it the flag's threshold is read from."""
from alignrl.workflow.jobserver import forward_to_job_server

forward_to_job_server(globals())  # returns only where this job runs in its own process

from alignrl.claims.contamination import null_problems, reference_problems
from alignrl.claims.rows import problems_to_rows, read_rows, write_rows
from alignrl.core.runtime import log_to
from alignrl.workflow.task_options import sampler_task

with log_to(snakemake.log[0]):
    seen = {row["extra_info"]["question"] for path in snakemake.input.splits for row in read_rows(path)}
    task = sampler_task(snakemake.params.generator)  # with the options the splits were drawn with
    params = snakemake.params
    reference = reference_problems(task, params.size, params.seed, seen)
    null = null_problems(task, params.null_size, params.seed, seen, reference)
    for problems, which in ((reference, "reference"), (null, "null")):
        rows = problems_to_rows(problems, snakemake.wildcards.task, task.ability, f"contamination_{which}",
                                params.template)
        write_rows(rows, snakemake.output[which])
        print(f"{len(rows)} {which} problems, none among {len(seen)} split questions")
