"""RL-train one claim x model x task x seed with the native trainer (resumes from its checkpoints)."""
from pathlib import Path

from alignrl.data import read_rows
from alignrl.runtime import log_to, set_threads
from alignrl.selection import training_rows
from alignrl.trainer import TrainConfig, train

with log_to(snakemake.log[0]):
    set_threads(snakemake.threads)
    data_cfg = snakemake.params.data
    rows = read_rows(snakemake.input.train)
    if data_cfg["selection"] != "one_shot":  # a one-shot input already holds its single example
        rows = training_rows(rows, data_cfg)
    summary = train(
        model_dir=snakemake.input.model,
        train_rows=rows,
        val_rows=read_rows(snakemake.input.val),
        task_name=snakemake.wildcards.task,
        generator=snakemake.params.generator,
        out_dir=Path(snakemake.output.model).parent,
        checkpoint_dir=snakemake.params.checkpoints,
        cfg=TrainConfig.from_dict(snakemake.params.settings),
        seed=int(snakemake.wildcards.seed),
        threads=snakemake.threads,
        on_stale="restart",  # Snakemake reruns this job only when its inputs or settings changed
        provenance_args={
            "rule": snakemake.rule,
            "wildcards": dict(snakemake.wildcards),
            "inputs": {"model": snakemake.input.model, "train": snakemake.input.train, "val": snakemake.input.val},
        },
    )
    print({k: v for k, v in summary.items() if k != "provenance"})
