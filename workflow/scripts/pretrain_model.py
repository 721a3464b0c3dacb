"""Pretrain one tiny base model whose corpus mixture sets its alignment with each task."""
from alignrl.workflow.jobserver import forward_to_job_server

forward_to_job_server(globals())  # returns only where this job runs in its own process

from alignrl.claims.rows import read_rows
from alignrl.core.runtime import log_to, set_threads
from alignrl.native.pretrain import pretrain

with log_to(snakemake.log[0]):
    set_threads(snakemake.threads)
    cfg = snakemake.params.model
    heldout = {row["extra_info"]["question"] for path in snakemake.input.heldout for row in read_rows(path)}
    # Only the contaminated control has these inputs: every evaluation problem, worked, into its corpus.
    contaminate_with = [
        (task, row["extra_info"]["question"], row["extra_info"]["solution"], str(row["reward_model"]["ground_truth"]))
        for task, path in zip(snakemake.params.contaminate_tasks, snakemake.input.contaminate)
        for row in read_rows(path)
    ]
    summary = pretrain(
        out_dir=snakemake.output[0],
        arch=cfg["arch"],
        model_sizes=cfg["size"],
        corpus_cfg=cfg["corpus"],
        train_cfg=cfg["pretrain"],
        template=snakemake.params.template,
        exclude_questions=heldout,
        threads=snakemake.threads,
        contaminate_with=contaminate_with,
        contaminate_copies=cfg.get("contaminate", {}).get("copies", 0),
        # the corpus is keyed by task name; a task may be named apart from its generator (kor: logic)
        task_generators=cfg["corpus"].get("task_generators"),
        provenance_args={
            "rule": snakemake.rule,
            "wildcards": dict(snakemake.wildcards),
            "inputs": {"heldout": list(snakemake.input.heldout), "contaminate": list(snakemake.input.contaminate)},
            "config_subtree": {"model": cfg, "template": snakemake.params.template},
            "seeds": {"corpus": cfg["corpus"]["seed"], "pretrain": cfg["pretrain"]["seed"]},
        },
    )
    print(summary)
