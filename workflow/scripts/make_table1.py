"""Table 1: base-model pass@k per model x task (model-task alignment)."""
from alignrl.workflow.jobserver import forward_to_job_server

forward_to_job_server(globals())  # returns only where this job runs in its own process

from alignrl.analysis.tables import build_table1, write_table
from alignrl.core.runtime import log_to
from alignrl.core.paths import RESULTS, sources_from_metrics

with log_to(snakemake.log[0]):
    ev = snakemake.params.evaluation
    sources = sources_from_metrics(snakemake.input, root=RESULTS)
    df = build_table1(sources, ev["ks"], snakemake.params.alignment, ev["bootstrap"])
    write_table(df, snakemake.output.csv, snakemake.output.md, "Table 1: base-model pass@k (model-task alignment)")
    print(df.to_string())
