# Checkpoints live outside the declared outputs so a killed run resumes instead of being wiped.
rule train_claim:
    input:
        model="models/{model}",
        train=training_data,
        val="data/{task}/val.parquet",
    output:
        model=directory("results/runs/{claim}/{model}/{task}/seed{seed}/model"),
        train_log="results/runs/{claim}/{model}/{task}/seed{seed}/train_log.csv",
        prompt_log="results/runs/{claim}/{model}/{task}/seed{seed}/prompt_log.csv",
        info="results/runs/{claim}/{model}/{task}/seed{seed}/run_info.json",
    params:
        settings=claim_settings,
        data=claim_data,
        generator=task_generator,
        checkpoints="results/checkpoints/{claim}/{model}/{task}/seed{seed}",
        backend=config["backend"]["training"],
        verl=VERL_SETTINGS,
    threads: config["threads"]["train"]
    resources:
        gpus=RESOURCES["train"]["gpus"],
        mem_mb=RESOURCES["train"]["mem_mb"],
        runtime=RESOURCES["train"]["runtime"],
    conda:
        TRAIN_ENV
    log:
        "logs/train/{claim}/{model}/{task}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{claim}/{model}/{task}/seed{seed}.tsv"
    script:
        "../workflow/scripts/train_claim.py"


# RQ2: the one example a one-shot claim trains on, and why it was chosen.
rule select_one_shot:
    input:
        train="data/{task}/train.parquet",
        history=one_shot_history,
    output:
        data="data/one_shot/{claim}/{model}/{task}/seed{seed}.parquet",
        record="data/one_shot/{claim}/{model}/{task}/seed{seed}.json",
    params:
        data=claim_data,
    conda:
        "../envs/cpu.yaml"
    log:
        "logs/one_shot/{claim}/{model}/{task}/seed{seed}.log",
    script:
        "../workflow/scripts/select_one_shot.py"
