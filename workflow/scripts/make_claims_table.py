"""A claims table (rows = model x task x claim, the base model first) from per-sample outputs."""
from alignrl.workflow.jobserver import forward_to_job_server

forward_to_job_server(globals())  # returns only where this job runs in its own process

from alignrl.analysis.tables import build_claims_table, write_table
from alignrl.core.runtime import log_to
from alignrl.core.paths import RESULTS, sources_from_metrics, split_base

with log_to(snakemake.log[0]):
    ev = snakemake.params.evaluation
    table = snakemake.params.table
    sources = sources_from_metrics(snakemake.input, root=RESULTS)
    base, claims = split_base(sources)
    order = {c: i for i, c in enumerate(table["claims"])}
    claims = sorted(claims, key=lambda s: order[s.claim])
    df = build_claims_table(base, claims, ev["ks"], snakemake.params.alignment, ev["bootstrap"], snakemake.params.verdict)
    write_table(df, snakemake.output.csv, snakemake.output.md, table["title"] or snakemake.wildcards.table)
    print(df.to_string())
