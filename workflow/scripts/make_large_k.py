"""pass@k curves up to large k for base and trained models, and where the base model catches up."""
from alignrl.workflow.jobserver import forward_to_job_server

forward_to_job_server(globals())  # returns only where this job runs in its own process

from alignrl.analysis.large_k import build_curves, crossings, plot_curves
from alignrl.core.paths import LARGE_K, sources_from_metrics, split_base
from alignrl.core.runtime import log_to

with log_to(snakemake.log[0]):
    ev = snakemake.params.evaluation
    sources = sources_from_metrics(snakemake.input, root=LARGE_K)
    base, claims = split_base(sources)
    curves = build_curves(base, claims, ev["ks"], ev["bootstrap"])
    crossing = crossings(curves)
    curves.to_csv(snakemake.output.csv, index=False)
    crossing.to_csv(snakemake.output.crossings, index=False)
    plot_curves(curves, crossing, snakemake.output.png)
    print(crossing.to_string())
