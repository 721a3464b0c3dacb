"""Probe one model on one task: greedy completion of question prefixes, test against never-seen problems,
flagged above the null of two never-seen sets."""
from alignrl.workflow.jobserver import forward_to_job_server

forward_to_job_server(globals())  # returns only where this job runs in its own process

import datetime as dt
from pathlib import Path

from alignrl.analysis.contamination import summarize_probe
from alignrl.claims.contamination import NULL, REFERENCE, TEST, check_disjoint
from alignrl.claims.rows import read_rows
from alignrl.core.runtime import log_to, set_threads, write_json_atomic
from alignrl.native.probe import probe
from alignrl.trace.provenance import provenance

with log_to(snakemake.log[0]):
    set_threads(snakemake.threads)
    started = dt.datetime.now(dt.timezone.utc).isoformat()
    cfg = snakemake.params.probe
    test = read_rows(snakemake.input.test)
    if cfg["problems"] is not None:
        test = test[: cfg["problems"]]
    fresh = {REFERENCE: read_rows(snakemake.input.reference), NULL: read_rows(snakemake.input.null)}
    # all of the test split, not only the probed part: no fresh problem may be a test problem
    check_disjoint({TEST: [r["extra_info"]["question"] for r in read_rows(snakemake.input.test)],
                    **{which: [r["extra_info"]["question"] for r in rows] for which, rows in fresh.items()}})
    problems = [(r["extra_info"]["uid"], TEST, r["extra_info"]["question"]) for r in test]
    problems += [(r["extra_info"]["uid"], which, r["extra_info"]["question"]) for which, rows in fresh.items()
                 for r in rows]
    frame = probe(snakemake.input.model, problems, template=snakemake.params.template,
                  prefix_fraction=cfg["prefix_fraction"], threads=snakemake.threads)
    boot = snakemake.params.bootstrap
    summary = summarize_probe(frame, null_quantile=cfg["null_quantile"], fixed_threshold=cfg["fixed_threshold"],
                              n_boot=boot["n_boot"], alpha=boot["alpha"], seed=boot["seed"])
    summary.update({"model": snakemake.wildcards.model, "task": snakemake.wildcards.task,
                    "bench": snakemake.wildcards.bench, "known_contaminated": bool(snakemake.params.contaminated),
                    "prefix_fraction": cfg["prefix_fraction"]})
    Path(snakemake.output.probe).parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(snakemake.output.probe, index=False)
    summary["provenance"] = provenance(
        rule=snakemake.rule, wildcards=dict(snakemake.wildcards),
        inputs={"model": snakemake.input.model, "test": snakemake.input.test, "reference": snakemake.input.reference,
                "null": snakemake.input.null},
        config_subtree={"contamination": cfg, "template": snakemake.params.template},
        seeds={"bootstrap": boot["seed"]}, started_at=started,
        finished_at=dt.datetime.now(dt.timezone.utc).isoformat(),
    )
    write_json_atomic(summary, snakemake.output.summary)
    print({k: v for k, v in summary.items() if k != "provenance"})
