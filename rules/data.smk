rule prepare_task:
    output:
        train=paths.split_data("train"),
        val=paths.split_data("val"),
        test=paths.split_data("test"),
    log:
        paths.log("data", "{task}"),
    wildcard_constraints:
        task=one_of(SYNTHETIC_TASKS),
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
