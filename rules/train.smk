# Checkpoints live outside the declared outputs so a killed run resumes instead of being wiped.
rule train_claim:
    input:
        model=paths.MODEL_DIR,
        train=training_data,
        val=paths.split_data("val"),
    output:
        model=directory(f"{paths.RUN_DIR}/model"),
        train_log=f"{paths.RUN_DIR}/train_log.csv",
        prompt_log=f"{paths.RUN_DIR}/prompt_log.csv",
        info=f"{paths.RUN_DIR}/run_info.json",
    log:
        paths.log("train", paths.RUN_KEY),
    benchmark:
        paths.benchmark("train", paths.RUN_KEY)
    conda:
        TRAIN_ENV
    threads: config["threads"]["train"]
    resources:
        gpus=RESOURCES["train"]["gpus"],
        mem_mb=RESOURCES["train"]["mem_mb"],
        runtime=RESOURCES["train"]["runtime"],
    params:
        settings=claim_settings,
        data=claim_data,
        generator=task_generator,
        checkpoints=paths.CHECKPOINT_DIR,
        backend=config["backend"]["training"],
        verl=VERL_SETTINGS,
    script:
        "../workflow/scripts/train_claim.py"


# RQ2: the one example a one-shot claim trains on, and why it was chosen.
rule select_one_shot:
    input:
        train=paths.split_data("train"),
        history=one_shot_history,
    output:
        data=f"{paths.ONE_SHOT}.parquet",
        record=f"{paths.ONE_SHOT}.json",
    log:
        paths.log("one_shot", paths.RUN_KEY),
    conda:
        "../envs/cpu.yaml"
    params:
        data=claim_data,
    script:
        "../workflow/scripts/select_one_shot.py"
