"""results/contamination.csv: one row per model x task x benchmark; the control must be flagged."""
from alignrl.workflow.jobserver import forward_to_job_server

forward_to_job_server(globals())  # returns only where this job runs in its own process

from alignrl.analysis.contamination import probe_table
from alignrl.analysis.tables import write_table
from alignrl.core.runtime import log_to, read_json

with log_to(snakemake.log[0]):
    summaries = [{**read_json(path), "summary_file": path} for path in snakemake.input]
    df, preamble = probe_table(summaries)
    write_table(df, snakemake.output.csv, snakemake.output.md, "Contamination probe", preamble=preamble)
    print(df.to_string())
