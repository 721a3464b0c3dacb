"""results/contamination.csv: one row per model x task x benchmark; the control must be flagged."""
import pandas as pd

from alignrl.reporting import write_table
from alignrl.runtime import log_to, read_json

with log_to(snakemake.log[0]):
    rows = []
    for path in snakemake.input:
        summary = read_json(path)
        summary.pop("provenance")
        summary["summary_file"] = path
        rows.append(summary)
    front = ["model", "task", "bench", "known_contaminated", "flagged", "test_problems", "reference_problems"]
    for metric in ("rouge_l", "exact_match"):
        front += [f"test_{metric}", f"reference_{metric}", f"gap_{metric}", f"gap_{metric}_ci_low", f"gap_{metric}_ci_high"]
    df = pd.DataFrame(rows)
    df = df[front + [c for c in df.columns if c not in front]]
    missed = df[df["known_contaminated"] & ~df["flagged"]]
    false_alarms = df[~df["known_contaminated"] & df["flagged"]]
    lines = ["The probe flags a model when its ROUGE-L on test-question remainders beats never-seen problems "
             "by at least min_gap with a bootstrap interval above 0."]
    if len(missed):
        lines.append("WARNING: the contaminated control was NOT flagged on: "
                     + ", ".join(f"{r.model} x {r.task}" for r in missed.itertuples()) + ".")
    if len(false_alarms):
        lines.append("Flagged although its corpus excludes every test problem: "
                     + ", ".join(f"{r.model} x {r.task}" for r in false_alarms.itertuples()) + ".")
    write_table(df, snakemake.output.csv, snakemake.output.md, "Contamination probe", preamble="\n".join(lines) + "\n\n")
    print(df.to_string())
