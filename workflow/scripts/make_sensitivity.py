"""Learning-rate sensitivity: does any claim's verdict flip with the RL learning rate?"""
from alignrl.workflow.jobserver import forward_to_job_server

forward_to_job_server(globals())  # returns only where this job runs in its own process

from alignrl.analysis.tables import build_sensitivity_table, write_table
from alignrl.core.runtime import log_to
from alignrl.core.paths import RESULTS, sources_from_metrics

with log_to(snakemake.log[0]):
    ev = snakemake.params.evaluation
    df = build_sensitivity_table(
        sources_from_metrics(snakemake.input, root=RESULTS),
        snakemake.params.runs,
        ev["ks"],
        snakemake.params.alignment,
        ev["bootstrap"],
        snakemake.params.verdict,
    )
    write_table(df, snakemake.output.csv, snakemake.output.md, "Learning-rate sensitivity of each verdict")
    print(df.to_string())
