# One job per split: a deleted split regenerates alone (same bytes: every split is drawn from the task's
# seed) and leaves the others, and everything downstream of them, untouched.
rule prepare_task:
    output:
        paths.SPLIT,
    log:
        paths.log("data", "{task}", "{split}"),
    wildcard_constraints:
        task=one_of(SYNTHETIC_TASKS),
        split="train|val|test",
    conda:
        "../envs/cpu.yaml"
    resources:
        mem_mb=RESOURCES["data"]["mem_mb"],
        runtime=RESOURCES["data"]["runtime"],
    params:
        task=task_config,
        template=prompt_template,
    script:
        "../workflow/scripts/prepare_task.py"


# Hub tasks (configs/paper.yaml): one job per split; train and val both come from the train dataset.
rule prepare_hub_split:
    output:
        paths.SPLIT,
    log:
        paths.log("data", "{task}", "{split}"),
    wildcard_constraints:
        task=one_of(HUB_TASKS),
        split=one_of(HUB_SPLITS),
    conda:
        "../envs/cpu.yaml"
    resources:
        mem_mb=RESOURCES["data"]["mem_mb"],
        runtime=RESOURCES["data"]["runtime"],
    params:
        task=task_config,
        template=prompt_template,
    script:
        "../workflow/scripts/prepare_hub_split.py"
