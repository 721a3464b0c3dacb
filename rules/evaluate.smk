# One evaluation rule for every model: same prompts, sampling, extraction and seed for base models and
# trained checkpoints, so only the weights differ. The other evaluations derive from it (`use rule`).
rule evaluate_run:
    input:
        model=rules.train_claim.output.model,
        data=paths.BENCH_DATA,
    output:
        samples=paths.cell_file(paths.RESULTS, paths.EVAL_CELL, paths.SAMPLES),
        metrics=paths.cell_file(paths.RESULTS, paths.EVAL_CELL, paths.METRICS),
    log:
        paths.cell_log(paths.RESULTS, paths.EVAL_CELL),
    benchmark:
        paths.cell_benchmark(paths.RESULTS, paths.EVAL_CELL)
    conda:
        EVAL_ENV
    threads: config["threads"]["evaluate"]
    resources:
        gpus=RESOURCES["evaluate"]["gpus"],
        mem_mb=RESOURCES["evaluate"]["mem_mb"],
        runtime=RESOURCES["evaluate"]["runtime"],
    params:
        evaluation=config["evaluation"],
        generator=task_generator,
        backend=config["backend"]["sampling"],
        vllm=VLLM_SETTINGS,
    script:
        "../workflow/scripts/evaluate_model.py"


# The base models' pass@k: their model-task alignment (Table 1) and every gain's reference.
use rule evaluate_run as baseline_passk with:
    input:
        model=paths.MODEL_DIR,
        data=paths.BENCH_DATA,
    output:
        samples=paths.cell_file(paths.RESULTS, paths.BASELINE_CELL, paths.SAMPLES),
        metrics=paths.cell_file(paths.RESULTS, paths.BASELINE_CELL, paths.METRICS),
    log:
        paths.cell_log(paths.RESULTS, paths.BASELINE_CELL),
    benchmark:
        paths.cell_benchmark(paths.RESULTS, paths.BASELINE_CELL)
