# Checkpoints live outside the declared outputs so a killed run resumes instead of being wiped.
rule train_claim:
    input:
        model=paths.MODEL_DIR,
        train=training_data,
        val=paths.split_data("val"),
    output:
        model=directory(paths.RUN_MODEL),
        train_log=paths.TRAIN_LOG,
        prompt_log=paths.PROMPT_LOG,
        info=paths.RUN_INFO,
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
        data=paths.ONE_SHOT_DATA,
        record=paths.ONE_SHOT_RECORD,
    log:
        paths.log("one_shot", paths.RUN_KEY),
    conda:
        "../envs/cpu.yaml"
    params:
        data=claim_data,
    script:
        "../workflow/scripts/select_one_shot.py"
