# Beyond the paper: pass@k up to large k. n >= max k samples per problem; the evaluation rule of the
# tables, only n, ks, seed and problems (and, where set, temperature and top_p) differ.
use rule evaluate_run as large_k_eval with:
    output:
        samples=paths.cell_file(paths.LARGE_K, paths.EVAL_CELL, paths.SAMPLES),
        metrics=paths.cell_file(paths.LARGE_K, paths.EVAL_CELL, paths.METRICS),
    log:
        paths.cell_log(paths.LARGE_K, paths.EVAL_CELL),
    benchmark:
        paths.cell_benchmark(paths.LARGE_K, paths.EVAL_CELL)
    params:
        evaluation=large_k_evaluation(config),
        generator=task_generator,
        backend=config["backend"]["sampling"],
        vllm=VLLM_SETTINGS,


use rule baseline_passk as large_k_baseline with:
    output:
        samples=paths.cell_file(paths.LARGE_K, paths.BASELINE_CELL, paths.SAMPLES),
        metrics=paths.cell_file(paths.LARGE_K, paths.BASELINE_CELL, paths.METRICS),
    log:
        paths.cell_log(paths.LARGE_K, paths.BASELINE_CELL),
    benchmark:
        paths.cell_benchmark(paths.LARGE_K, paths.BASELINE_CELL)
    params:
        evaluation=large_k_evaluation(config),
        generator=task_generator,
        backend=config["backend"]["sampling"],
        vllm=VLLM_SETTINGS,


rule large_k:
    input:
        large_k_metrics,
    output:
        csv=report(table("large_k"), caption=caption("large_k"), category="Beyond the paper"),
        crossings=report(table("large_k_crossings"), caption=caption("large_k"), category="Beyond the paper"),
        png=report(figure("large_k"), caption=caption("large_k"), category="Beyond the paper"),
    log:
        paths.log("report", "large_k"),
    conda:
        "../envs/cpu.yaml"
    params:
        evaluation=large_k_evaluation(config),
    script:
        "../workflow/scripts/make_large_k.py"
