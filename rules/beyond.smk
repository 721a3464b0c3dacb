# Beyond the paper: the alignment dial, pass@k at large k, and the contamination probe.


# Every claim of the dial, trained on every level; one row per level x claim.
rule dial:
    input:
        dial_metrics,
    output:
        csv=report("results/dial.csv", caption="../report/dial.rst", category="Beyond the paper"),
        md=report("results/dial.md", caption="../report/dial.rst", category="Beyond the paper"),
    params:
        levels=dial_level_of_model,
        evaluation=config["evaluation"],
        alignment=config["alignment"],
        verdict=config["verdict"],
    conda:
        "../envs/cpu.yaml"
    log:
        "logs/report/dial.log",
    script:
        "../workflow/scripts/make_dial.py"


rule dial_figure:
    input:
        "results/dial.csv",
    output:
        report("results/figures/dial.png", caption="../report/dial.rst", category="Beyond the paper"),
    params:
        alignment=config["alignment"],
        verdict=config["verdict"],
    conda:
        "../envs/cpu.yaml"
    log:
        "logs/report/dial_figure.log",
    script:
        "../workflow/scripts/plot_dial.py"


# n >= max k samples per problem; the same evaluation code as the tables, only n, ks and problems differ.
rule large_k_baseline:
    input:
        model="models/{model}",
        data="data/{task}/{bench}.parquet",
    output:
        samples="results/large_k/baseline/{model}/{task}/{bench}/samples.parquet",
        metrics="results/large_k/baseline/{model}/{task}/{bench}/metrics.json",
    params:
        evaluation=large_k_evaluation(),
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
        "logs/large_k/baseline/{model}/{task}/{bench}.log",
    benchmark:
        "results/benchmarks/large_k/baseline/{model}/{task}/{bench}.tsv"
    script:
        "../workflow/scripts/evaluate_model.py"


rule large_k_eval:
    input:
        model="results/runs/{claim}/{model}/{task}/seed{seed}/model",
        data="data/{task}/{bench}.parquet",
    output:
        samples="results/large_k/eval/{claim}/{model}/{task}/seed{seed}/{bench}/samples.parquet",
        metrics="results/large_k/eval/{claim}/{model}/{task}/seed{seed}/{bench}/metrics.json",
    params:
        evaluation=large_k_evaluation(),
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
        "logs/large_k/eval/{claim}/{model}/{task}/seed{seed}/{bench}.log",
    benchmark:
        "results/benchmarks/large_k/eval/{claim}/{model}/{task}/seed{seed}/{bench}.tsv"
    script:
        "../workflow/scripts/evaluate_model.py"


rule passk_large:
    input:
        large_k_metrics,
    output:
        csv=report("results/passk_large.csv", caption="../report/passk_large.rst", category="Beyond the paper"),
        crossings=report("results/passk_large_crossings.csv", caption="../report/passk_large.rst", category="Beyond the paper"),
        png=report("results/figures/passk_large.png", caption="../report/passk_large.rst", category="Beyond the paper"),
    params:
        evaluation=large_k_evaluation(),
    conda:
        "../envs/cpu.yaml"
    log:
        "logs/report/passk_large.log",
    script:
        "../workflow/scripts/make_passk_large.py"


# Fresh problems from each task's generator, outside every split: what "never seen" scores look like.
rule contamination_reference:
    input:
        splits=expand("data/{{task}}/{split}.parquet", split=["train", "val", "test"]),
    output:
        "data/{task}/contamination_reference.parquet",
    params:
        generator=task_generator,
        size=config["contamination"]["reference_problems"],
        seed=config["contamination"]["reference_seed"],
        template=prompt_template,
    conda:
        "../envs/cpu.yaml"
    log:
        "logs/contamination/reference/{task}.log",
    script:
        "../workflow/scripts/make_contamination_reference.py"


rule contamination_probe:
    input:
        model="models/{model}",
        test="data/{task}/{bench}.parquet",
        reference="data/{task}/contamination_reference.parquet",
    output:
        probe="results/contamination/{model}/{task}/{bench}/probe.parquet",
        summary="results/contamination/{model}/{task}/{bench}/summary.json",
    params:
        probe=contamination_probe_settings(),
        template=prompt_template,
        bootstrap=config["evaluation"]["bootstrap"],
        contaminated=is_contaminated_control,
    threads: config["threads"]["evaluate"]
    resources:
        mem_mb=RESOURCES["evaluate"]["mem_mb"],
        runtime=RESOURCES["evaluate"]["runtime"],
    conda:
        "../envs/cpu.yaml"
    log:
        "logs/contamination/{model}/{task}/{bench}.log",
    benchmark:
        "results/benchmarks/contamination/{model}/{task}/{bench}.tsv"
    script:
        "../workflow/scripts/contamination_probe.py"


rule contamination:
    input:
        contamination_summaries,
    output:
        csv=report("results/contamination.csv", caption="../report/contamination.rst", category="Beyond the paper"),
        md=report("results/contamination.md", caption="../report/contamination.rst", category="Beyond the paper"),
    conda:
        "../envs/cpu.yaml"
    log:
        "logs/report/contamination.log",
    script:
        "../workflow/scripts/make_contamination_table.py"
