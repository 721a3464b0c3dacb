rule prepare_task:
    wildcard_constraints:
        task=one_of(SYNTHETIC_TASKS),
    output:
        train="data/{task}/train.parquet",
        val="data/{task}/val.parquet",
        test="data/{task}/test.parquet",
    params:
        task=task_config,
        template=prompt_template,
    resources:
        mem_mb=RESOURCES["data"]["mem_mb"],
        runtime=RESOURCES["data"]["runtime"],
    conda:
        "../envs/cpu.yaml"
    log:
        "logs/data/{task}.log",
    script:
        "../workflow/scripts/prepare_task.py"


# Hub tasks (configs/paper.yaml): one job per split; train and val both come from the train dataset.
rule prepare_hub_split:
    wildcard_constraints:
        task=one_of(HUB_TASKS),
        split=one_of(HUB_SPLITS),
    output:
        "data/{task}/{split}.parquet",
    params:
        task=task_config,
        template=prompt_template,
    resources:
        mem_mb=RESOURCES["data"]["mem_mb"],
        runtime=RESOURCES["data"]["runtime"],
    conda:
        "../envs/cpu.yaml"
    log:
        "logs/data/{task}/{split}.log",
    script:
        "../workflow/scripts/prepare_hub_split.py"
