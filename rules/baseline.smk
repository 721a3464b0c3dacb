rule baseline_passk:
    input:
        model="models/{model}",
        data="data/{task}/{bench}.parquet",
    output:
        samples="results/baseline/{model}/{task}/{bench}/samples.parquet",
        metrics="results/baseline/{model}/{task}/{bench}/metrics.json",
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
        "logs/baseline/{model}/{task}/{bench}.log",
    benchmark:
        "results/benchmarks/baseline/{model}/{task}/{bench}.tsv"
    script:
        "../workflow/scripts/evaluate_model.py"
