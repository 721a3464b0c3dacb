rule prepare_task:
    output:
        train="data/{task}/train.parquet",
        val="data/{task}/val.parquet",
        test="data/{task}/test.parquet",
    params:
        task=task_config,
        template=prompt_template,
    conda:
        "../envs/cpu.yaml"
    log:
        "logs/data/{task}.log",
    script:
        "../workflow/scripts/prepare_task.py"
