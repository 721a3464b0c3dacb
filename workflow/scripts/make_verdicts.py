"""results/verdicts.csv and a one-page summary in words above the table (results/verdicts.md)."""
from alignrl.workflow.jobserver import forward_to_job_server

forward_to_job_server(globals())  # returns only where this job runs in its own process

from alignrl.analysis.tables import write_table
from alignrl.core.runtime import log_to
from alignrl.analysis.verdicts import build_verdicts, summary_markdown
from alignrl.core.paths import RESULTS, sources_from_metrics, split_base

with log_to(snakemake.log[0]):
    ev = snakemake.params.evaluation
    sources = sources_from_metrics(snakemake.input, root=RESULTS)
    base, claims = split_base(sources)
    df = build_verdicts(base, claims, ev["ks"], snakemake.params.alignment, ev["bootstrap"],
                        snakemake.params.verdict, snakemake.params.expectations)
    summary = summary_markdown(df, snakemake.params.verdict, snakemake.params.alignment)
    write_table(df, snakemake.output.csv, snakemake.output.md, "All verdicts", preamble=summary + "\n")
    print(df.drop(columns=["metrics_files"]).to_string())
