"""results/dial.csv: each dial claim's gain over its level's base model, against that model's alignment."""
from alignrl.workflow.jobserver import forward_to_job_server

forward_to_job_server(globals())  # returns only where this job runs in its own process

from alignrl.analysis.dial import build_dial_table, dial_markdown
from alignrl.analysis.tables import write_table
from alignrl.core.runtime import log_to
from alignrl.core.paths import RESULTS, sources_from_metrics, split_base

with log_to(snakemake.log[0]):
    ev = snakemake.params.evaluation
    sources = sources_from_metrics(snakemake.input, root=RESULTS)
    base, claims = split_base(sources)
    df = build_dial_table(base, claims, snakemake.params.levels, ev["ks"], snakemake.params.alignment,
                          ev["bootstrap"], snakemake.params.verdict)
    summary = dial_markdown(df, snakemake.params.alignment, snakemake.params.verdict)
    write_table(df, snakemake.output.csv, snakemake.output.md, "The alignment dial", preamble=summary + "\n")
    print(summary)
