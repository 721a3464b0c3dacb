"""Command line of the audit: ``python -m alignrl.workflow.audit --config config.yaml``.

The audit (alignrl.trace.audit) takes a finalized config; loading and checking one is the workflow layer's job.
"""
from __future__ import annotations

from pathlib import Path

from alignrl.trace.audit import AuditFailed, run
from alignrl.workflow.config import load_config
from alignrl.workflow.plan import report_plan, run_expectations


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    ap = argparse.ArgumentParser(prog="python -m alignrl.workflow.audit",
                                 description="Re-hash and recompute every number of the results tables.")
    ap.add_argument("--config", default="config.yaml", help="the config the results were made with")
    ap.add_argument("--results", default="results")
    args = ap.parse_args(argv)
    try:
        config = load_config(args.config)
        checks = run(config, report_plan(config), args.results,
                     expected_settings=lambda claim: run_expectations(config, claim))
    except AuditFailed as exc:
        print(f"AUDIT FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"audit passed: {len(checks)} checks; see {Path(args.results) / 'audit.txt'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
