"""pass@k of a model on one benchmark: the same code for base models and trained checkpoints."""
from alignrl.workflow.jobserver import forward_to_job_server

forward_to_job_server(globals())  # returns only where this job runs in its own process

import datetime as dt
from pathlib import Path

from alignrl.claims.rows import read_rows
from alignrl.core.runtime import log_to, set_threads
from alignrl.native.evaluate import evaluate
from alignrl.trace.provenance import provenance
from alignrl.trace.records import write_evaluation

with log_to(snakemake.log[0]):
    set_threads(snakemake.threads)
    started = dt.datetime.now(dt.timezone.utc).isoformat()
    ev = snakemake.params.evaluation
    rows = read_rows(snakemake.input.data)
    if ev.get("problems") is not None:  # the large-k curves may use the first N problems only
        rows = rows[: ev["problems"]]
    common = dict(
        n=ev["n"],
        ks=ev["ks"],
        temperature=ev["temperature"],
        top_p=ev["top_p"],
        max_new_tokens=ev["max_new_tokens"],
        seed=ev["seed"],
        n_boot=ev["bootstrap"]["n_boot"],
        alpha=ev["bootstrap"]["alpha"],
        boot_seed=ev["bootstrap"]["seed"],
        task=snakemake.params.generator,
    )
    if snakemake.params.backend == "vllm":
        from alignrl.backends.vllm import evaluate_with_vllm
        from alignrl.core.runtime import require_gpu

        require_gpu(snakemake.rule, "vllm", needed=snakemake.params.vllm["tensor_parallel_size"])
        samples, metrics = evaluate_with_vllm(snakemake.input.model, rows, vllm_cfg=snakemake.params.vllm, **common)
    else:
        samples, metrics = evaluate(
            snakemake.input.model, rows, batch_size=ev["batch_size"], threads=snakemake.threads, **common
        )
    metrics["provenance"] = provenance(
        rule=snakemake.rule,
        wildcards=dict(snakemake.wildcards),
        inputs={"model": snakemake.input.model, "data": snakemake.input.data},
        config_subtree={"evaluation": ev},
        seeds={"evaluation": ev["seed"], "bootstrap": ev["bootstrap"]["seed"]},
        started_at=started,
        finished_at=dt.datetime.now(dt.timezone.utc).isoformat(),
    )
    write_evaluation(samples, metrics, Path(snakemake.output.metrics).parent)
    print({k: v for k, v in metrics.items() if k != "provenance"})
