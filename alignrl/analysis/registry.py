"""One registry of the results tables: how each is built from its input files and settings.

The ``make_*`` scripts build a table with :func:`build` and write it with :func:`write`; the audit
(:mod:`alignrl.trace.audit`) rebuilds the same table with the same :func:`build` from the files and settings
the config implies, and compares every output file. A table is one :class:`TableSpec`:

* ``inputs``: what the input paths are (``metrics``: metrics.json files; ``summaries``: contamination
  summary.json files; ``runs``: run records, run_info.json; ``tables``: claim-table CSVs);
* ``outputs``: output key -> path template under ``results/`` (``{name}`` is the table's name);
* ``build(inputs, params, png)``: a :class:`Built` (a frame per CSV output, the markdown text of the ``md``
  output if any); ``png`` is where a figure built with the table goes (a temporary file in the audit).

The claim tables share one spec, registered as :data:`CLAIMS_TABLE` and looked up for any name the config's
``tables:`` defines.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from alignrl.core.paths import FIGURES, RESULTS, sources_from_metrics, split_base
from alignrl.core.runtime import read_json

__all__ = [
    "Built", "CLAIMS_TABLE", "FIGURE1", "LARGE_K", "MARGINS", "MECHANISMS", "REGIME", "TABLES", "TableSpec",
    "build", "output_paths", "run_job", "spec", "write",
]

#: The large-k target's name (results/{LARGE_K}.csv, its crossings and figure): change it here only.
LARGE_K = "large_k"
#: The shared spec of every table under the config's ``tables:``.
CLAIMS_TABLE = "claims_table"
FIGURE1 = "figure1"
#: The margins target's name (results/{MARGINS}.csv, _cells.csv and .md).
MARGINS = "margins"
#: The regime statistics of every claim-table run (results/{REGIME}.csv and .md).
REGIME = "regime"
#: The mechanism controls (results/{MECHANISMS}.csv + .md): the claims tables' builder on the config's
#: ``mechanisms:`` claims, so it has every column a claims table has.
MECHANISMS = "mechanisms"


@dataclass
class Built:
    frames: dict[str, pd.DataFrame]
    markdown: str | None = None


@dataclass(frozen=True)
class TableSpec:
    inputs: str
    outputs: Mapping[str, str]
    build: Callable[[Sequence[str], Mapping[str, Any], str | None], Built]
    title: str = ""
    figure: str | None = None  # output key of a figure drawn by build, if any
    params: tuple[str, ...] = field(default_factory=tuple)  # the settings build reads
    float_format: str | None = "%.6g"  # of the CSVs (None: pandas' full repr)


def _table_outputs() -> dict[str, str]:
    return {"csv": f"{RESULTS}/{{name}}.csv", "md": f"{RESULTS}/{{name}}.md"}


def _markdown(df: pd.DataFrame, title: str, preamble: str = "") -> str:
    from alignrl.analysis.tables import to_markdown

    return preamble + to_markdown(df, title)


def _table1(inputs, params, png):
    from alignrl.analysis.tables import build_table1

    ev = params["evaluation"]
    df = build_table1(sources_from_metrics(inputs), ev["ks"], params["alignment"], ev["bootstrap"])
    return Built({"csv": df}, _markdown(df, "Table 1: base-model pass@k (model-task alignment) and traits"))


def _claims_table(inputs, params, png):
    from alignrl.analysis.tables import build_claims_table

    ev, table = params["evaluation"], params["table"]
    base, claims = split_base(sources_from_metrics(inputs))
    order = {c: i for i, c in enumerate(table["claims"])}
    unknown = sorted({s.claim for s in claims} - set(order))
    if unknown:
        raise ValueError(f"metrics of claim(s) {unknown}, which table '{params['name']}' does not list")
    claims = sorted(claims, key=lambda s: order[s.claim])
    df = build_claims_table(base, claims, ev["ks"], params["alignment"], ev["bootstrap"], params["verdict"])
    return Built({"csv": df}, _markdown(df, table["title"] or params["name"]))


def _verdicts(inputs, params, png):
    from alignrl.analysis.verdicts import build_verdicts, summary_markdown

    ev = params["evaluation"]
    base, claims = split_base(sources_from_metrics(inputs))
    df = build_verdicts(base, claims, ev["ks"], params["alignment"], ev["bootstrap"], params["verdict"],
                        params["expectations"])
    summary = summary_markdown(df, params["verdict"], params["alignment"])
    return Built({"csv": df}, _markdown(df, "All verdicts", summary + "\n"))


def _robustness(inputs, params, png):
    from alignrl.analysis.robustness import build_robustness, robustness_markdown

    ev = params["evaluation"]
    base, claims = split_base(sources_from_metrics(inputs))
    df = build_robustness(base, claims, params["tables"], ev["ks"], params["alignment"], ev["bootstrap"],
                          params["verdict"])
    return Built({"csv": df}, _markdown(df, "Every verdict, seed by seed", robustness_markdown(df, params["verdict"])
                                        + "\n"))


def _sensitivity(inputs, params, png):
    from alignrl.analysis.tables import build_sensitivity_table

    ev = params["evaluation"]
    runs = [tuple(r) for r in params["runs"]]
    df = build_sensitivity_table(sources_from_metrics(inputs), runs, ev["ks"], params["alignment"], ev["bootstrap"],
                                 params["verdict"])
    return Built({"csv": df}, _markdown(df, "Learning-rate sensitivity of each verdict"))


def _dial(inputs, params, png):
    from alignrl.analysis.dial import build_dial_table, dial_markdown

    ev = params["evaluation"]
    base, claims = split_base(sources_from_metrics(inputs))
    df = build_dial_table(base, claims, params["levels"], ev["ks"], params["alignment"], ev["bootstrap"],
                          params["verdict"], params.get("replicas"))
    summary = dial_markdown(df, params["alignment"], params["verdict"])
    return Built({"csv": df}, _markdown(df, "The alignment dial", summary + "\n"))


def _margins(inputs, params, png):
    from alignrl.analysis.margins import build_margins, margins_markdown

    ev = params["evaluation"]
    base, claims = split_base(sources_from_metrics(inputs))
    if claims:
        raise ValueError(f"the margins are built from base models only; got {claims[0].metrics_files[0]}")
    rows, cells = build_margins(base, params["replicas"], ev["ks"], params["alignment"], ev["bootstrap"])
    summary = margins_markdown(rows, cells, params["alignment"], params.get("hub_models", ()))
    text = summary + "\n" + _markdown(cells, "Cells") + "\n" + _markdown(rows, "Every replica")
    return Built({"csv": rows, "cells": cells}, text)


def _large_k(inputs, params, png):
    from alignrl.analysis.large_k import build_curves, crossings, plot_curves

    ev = params["evaluation"]
    base, claims = split_base(sources_from_metrics(inputs))
    curves = build_curves(base, claims, ev["ks"], ev["bootstrap"])
    crossing = crossings(curves)
    if png is not None:
        plot_curves(curves, crossing, png)
    return Built({"csv": curves, "crossings": crossing})


def _contamination(inputs, params, png):
    from alignrl.analysis.contamination import probe_table

    summaries = [{**read_json(path), "summary_file": str(path)} for path in inputs]
    df, preamble = probe_table(summaries)
    return Built({"csv": df}, _markdown(df, "Contamination probe", preamble))


def _regime(inputs, params, png):
    from alignrl.analysis.regime import build_regime_table, regime_markdown

    df = build_regime_table(inputs)
    return Built({"csv": df}, regime_markdown(df))


def _figure1(inputs, params, png):
    from alignrl.analysis.figure1 import figure1_data, plot_figure1

    data = figure1_data({path: pd.read_csv(path) for path in inputs}, params["bars"], params["evaluation"]["ks"])
    if png is not None:  # the audit compares the data only
        plot_figure1(data, params["bars"], png)
    return Built({"csv": data})


_METRICS_PARAMS = ("evaluation", "alignment", "verdict")
TABLES: dict[str, TableSpec] = {
    "table1": TableSpec("metrics", _table_outputs(), _table1, params=("evaluation", "alignment")),
    CLAIMS_TABLE: TableSpec("metrics", _table_outputs(), _claims_table, params=("name", "table", *_METRICS_PARAMS)),
    MECHANISMS: TableSpec("metrics", _table_outputs(), _claims_table, params=("name", "table", *_METRICS_PARAMS)),
    "verdicts": TableSpec("metrics", _table_outputs(), _verdicts, params=(*_METRICS_PARAMS, "expectations")),
    "robustness": TableSpec("metrics", _table_outputs(), _robustness, params=(*_METRICS_PARAMS, "tables")),
    "lr_sensitivity": TableSpec("metrics", _table_outputs(), _sensitivity, params=(*_METRICS_PARAMS, "runs")),
    "dial": TableSpec("metrics", _table_outputs(), _dial, params=(*_METRICS_PARAMS, "levels", "replicas")),
    MARGINS: TableSpec("metrics", {**_table_outputs(), "cells": f"{RESULTS}/{{name}}_cells.csv"}, _margins,
                       params=("evaluation", "alignment", "replicas", "hub_models")),
    LARGE_K: TableSpec(
        "metrics",
        {"csv": f"{RESULTS}/{{name}}.csv", "crossings": f"{RESULTS}/{{name}}_crossings.csv",
         "png": f"{FIGURES}/{{name}}.png"},
        _large_k, figure="png", params=("evaluation",), float_format=None,
    ),
    "contamination": TableSpec("summaries", _table_outputs(), _contamination),
    REGIME: TableSpec("runs", _table_outputs(), _regime),
    FIGURE1: TableSpec("tables", {"csv": f"{FIGURES}/figure1.csv", "png": f"{FIGURES}/figure1.png"},
                       _figure1, figure="png", params=("bars", "evaluation"), float_format=None),
}


def spec(name: str) -> TableSpec:
    """The spec of table ``name``; a name not registered is a claim table (the config's ``tables:``)."""
    return TABLES.get(name, TABLES[CLAIMS_TABLE])


def output_paths(name: str, root: str | os.PathLike = ".") -> dict[str, Path]:
    """Output key -> path of table ``name``'s files, relative to ``root`` (the working directory)."""
    return {key: Path(root) / tpl.format(name=name) for key, tpl in spec(name).outputs.items()}


def build(name: str, inputs: Sequence[str | os.PathLike], params: Mapping[str, Any], png: str | None = None) -> Built:
    """Table ``name`` built from ``inputs`` with ``params`` (see the module docstring)."""
    return spec(name).build([str(p) for p in inputs], params, png)


def run_job(name: str, smk: Any) -> Built:
    """A Snakemake report job: build table ``name`` from the job's inputs and params, write its outputs."""
    params = {k: getattr(smk.params, k) for k in spec(name).params if hasattr(smk.params, k)}
    if spec(name).build is _claims_table:  # a claims table or the mechanisms: its name is its title's fallback
        params["name"] = name
    outputs = dict(smk.output.items())
    built = build(name, list(smk.input), params, png=outputs.get(spec(name).figure) if spec(name).figure else None)
    write(name, built, outputs)
    return built


def write(name: str, built: Built, outputs: Mapping[str, str | os.PathLike]) -> None:
    """Write each frame of table ``name`` as CSV and its markdown, each through a rename."""
    for key, df in built.frames.items():
        path = Path(outputs[key])
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        df.to_csv(tmp, index=False, float_format=spec(name).float_format)
        tmp.replace(path)
    if built.markdown is not None:
        path = Path(outputs["md"])
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(built.markdown)
        tmp.replace(path)
