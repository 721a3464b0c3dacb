# Same prompts, sampling, extraction and seed as the baseline: only the weights differ.
rule evaluate_run:
    input:
        model="results/runs/{claim}/{model}/{task}/seed{seed}/model",
        data="data/{task}/{bench}.parquet",
    output:
        samples="results/eval/{claim}/{model}/{task}/seed{seed}/{bench}/samples.parquet",
        metrics="results/eval/{claim}/{model}/{task}/seed{seed}/{bench}/metrics.json",
    params:
        evaluation=config["evaluation"],
        generator=task_generator,
        backend=config["backend"]["sampling"],
        vllm=VLLM_SETTINGS,
    threads: config["threads"]["evaluate"]
    resources:
        gpus=RESOURCES["evaluate"]["gpus"],
        mem_mb=RESOURCES["evaluate"]["mem_mb"],
        runtime=RESOURCES["evaluate"]["runtime"],
    conda:
        EVAL_ENV
    log:
        "logs/eval/{claim}/{model}/{task}/seed{seed}/{bench}.log",
    benchmark:
        "results/benchmarks/eval/{claim}/{model}/{task}/seed{seed}/{bench}.tsv"
    script:
        "../workflow/scripts/evaluate_model.py"
