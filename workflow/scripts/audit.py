"""Rebuild every table from the config's files and re-hash their chains.

Writes results/audit.txt; fails naming any mismatch.
"""
from alignrl.workflow.jobserver import forward_to_job_server

forward_to_job_server(globals())  # returns only where this job runs in its own process

from alignrl.core.paths import RESULTS
from alignrl.core.runtime import log_to
from alignrl.trace.audit import run
from alignrl.workflow.plan import report_plan, run_expectations

with log_to(snakemake.log[0]):
    config = snakemake.config
    checks = run(config, report_plan(config), RESULTS, expected_settings=lambda claim: run_expectations(config, claim))
    print(f"audit passed: {len(checks)} checks")
