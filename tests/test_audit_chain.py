"""The audit ties each table to the config and its files: tampers a stranger tried must all fail it.

A small results tree is built here by hand (no pipeline run): one task, one model, two claims, with
samples, metrics, run records and the tables written by the registry as the make_* scripts write them.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alignrl.analysis import registry
from alignrl.claims.scoring import samples_frame, summarize
from alignrl.core.paths import baseline_metrics_path, eval_metrics_path
from alignrl.trace.audit import AuditFailed, audit_run, run
from alignrl.trace.provenance import sha256_file
from alignrl.trace.records import write_evaluation
from alignrl.trace.run_record import LOG_COLUMNS, PROMPT_LOG_COLUMNS, write_run_info

EV = {"ks": [1, 2], "n": 4, "bootstrap": {"n_boot": 50, "alpha": 0.05, "seed": 0}}
CONFIG = {
    "evaluation": EV,
    "alignment": {"k": 2, "strong_at_least": 0.8, "weak_at_most": 0.3, "ceiling_pass_at_k": 0.98,
                  "ceiling_pass_at_1": 0.8},
    "verdict": {"k": 1, "min_gain": 0.02},
    "tables": {"t2": {"claims": ["gt", "rnd"], "title": "Table 2"}},
    "claims": {"gt": {"expectation": "none"}, "rnd": {"expectation": "none"}},
}
SETTINGS = {
    "gt": {"lr": 1e-3, "steps": 3, "reward": "ground_truth"},
    "rnd": {"lr": 1e-3, "steps": 3, "reward": "random"},
}
COMMON = {k: CONFIG[k] for k in ("evaluation", "alignment", "verdict")}
BASE = baseline_metrics_path("A", "math", "test")
GT = eval_metrics_path("gt", "A", "math", 0, "test")
RND = eval_metrics_path("rnd", "A", "math", 0, "test")
PLAN = {
    "table1": ([BASE], {"evaluation": EV, "alignment": CONFIG["alignment"]}),
    "t2": ([BASE, GT, RND], {**COMMON, "table": CONFIG["tables"]["t2"], "name": "t2"}),
    "robustness": ([BASE, GT, RND], {**COMMON, "tables": {"t2": ["gt", "rnd"]}}),
}


def _samples(p_correct: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    records = [
        {"problem_id": f"p{i}", "sample_index": j, "text": "t", "extracted_answer": "1",
         "correct": bool(rng.random() < p_correct), "well_formatted": bool(rng.random() < 0.9),
         "response_tokens": int(rng.integers(3, 9)), "finished": True, "ground_truth": "1",
         "lenient_answer": "1", "lenient_correct": bool(rng.random() < p_correct),
         "solution_style": ("careful", "shortcut", None)[int(rng.integers(0, 3))]}
        for i in range(12) for j in range(EV["n"])
    ]
    return samples_frame(records)


def _evaluation(metrics_path: str, model_dir: Path, data: Path, p: float, seed: int) -> None:
    samples = _samples(p, seed)
    b = EV["bootstrap"]
    metrics = summarize(samples, n=EV["n"], ks=EV["ks"], n_boot=b["n_boot"], alpha=b["alpha"], boot_seed=b["seed"])
    metrics.update(temperature=1.0, top_p=1.0, provenance={
        "rule": "evaluate", "config": {"n": EV["n"], "temperature": 1.0},
        "inputs": {"model": {"path": str(model_dir), "sha256": None},
                   "data": {"path": str(data), "sha256": sha256_file(data)}},
    })
    from alignrl.trace.provenance import sha256_tree

    metrics["provenance"]["inputs"]["model"]["sha256"] = sha256_tree(model_dir)
    write_evaluation(samples, metrics, Path(metrics_path).parent)


def _run_dir(claim: str) -> Path:
    run = Path(f"results/runs/{claim}/A/math/seed0")
    (run / "model").mkdir(parents=True)
    (run / "model" / "config.json").write_text(json.dumps({"claim": claim}))
    (run / "train_log.csv").write_text(",".join(LOG_COLUMNS) + "\n")
    (run / "prompt_log.csv").write_text(",".join(PROMPT_LOG_COLUMNS) + "\n")
    write_run_info(run, {"backend": "native", "config": SETTINGS[claim], "seed": 0, "task": "math",
                         "generator": "math", "steps_done": 3, "provenance": {"rule": "train", "inputs": {}}})
    return run


@pytest.fixture
def tree(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    data = Path("data/math/test.parquet")
    data.parent.mkdir(parents=True)
    pd.DataFrame({"q": ["x"]}).to_parquet(data)
    base_model = Path("models/A")
    base_model.mkdir(parents=True)
    (base_model / "config.json").write_text("{}")
    _evaluation(BASE, base_model, data, 0.3, 1)
    _evaluation(GT, _run_dir("gt") / "model", data, 0.6, 2)
    _evaluation(RND, _run_dir("rnd") / "model", data, 0.35, 3)
    for name, (inputs, params) in PLAN.items():
        registry.write(name, registry.build(name, inputs, params), registry.output_paths(name))
    return tmp_path


def _audit() -> list:
    return run(CONFIG, PLAN, "results", expected_settings=lambda claim: SETTINGS[claim])


def _failing(tree: Path) -> set[str]:
    lines = (tree / "results/audit.txt").read_text().splitlines()
    return {line.split()[1].rstrip(":") for line in lines if line.startswith("FAIL")}


def test_an_untouched_tree_passes(tree):
    checks = _audit()
    assert checks and all(c.ok for c in checks)
    assert {"results/t2.md", "results/table1.md", "results/robustness.csv"} <= {c.path for c in checks}


def _edit_csv(fn):
    def edit(tree):
        path = tree / "results/t2.csv"
        df = fn(pd.read_csv(path, keep_default_na=False))
        df.to_csv(path, index=False)
    return edit


def _edit_json(rel, fn):
    def edit(tree):
        path = tree / rel
        record = json.loads(path.read_text())
        fn(record)
        path.write_text(json.dumps(record, indent=2))
    return edit


def _edit_file(path, fn):
    text = path.read_text()
    assert fn(text) != text, f"the tamper changes nothing in {path}"
    path.write_text(fn(text))


def _swap_claims(df):
    df.loc[1, "claim"], df.loc[2, "claim"] = df.loc[2, "claim"], df.loc[1, "claim"]
    return df


def _point_at_other(df):
    df.loc[df["claim"] == "rnd", "metrics_files"] = GT
    return df


TAMPERS = {
    "delete a row": ("results/t2.csv", _edit_csv(lambda df: df.drop(index=2))),
    "add a fabricated row": ("results/t2.csv", _edit_csv(
        lambda df: pd.concat([df, df.iloc[[1]].assign(claim="made_up")], ignore_index=True))),
    "swap two rows' claims": ("results/t2.csv", _edit_csv(_swap_claims)),
    "metrics_files of another claim": ("results/t2.csv", _edit_csv(_point_at_other)),
    "pass_at_k_ci": (GT, _edit_json(GT, lambda m: m["pass_at_k_ci"]["1"].__setitem__(0, 0.01))),
    "format_rate": (GT, _edit_json(GT, lambda m: m.__setitem__("format_rate", 0.99))),
    "provenance config": (GT, _edit_json(GT, lambda m: m["provenance"]["config"].__setitem__("temperature", 0.7))),
    "run_info config.lr": ("results/runs/gt/A/math/seed0/run_info.json",
                           _edit_json("results/runs/gt/A/math/seed0/run_info.json",
                                      lambda r: r["config"].__setitem__("lr", 0.5))),
    "run_info steps_done": ("results/runs/gt/A/math/seed0/run_info.json",
                            _edit_json("results/runs/gt/A/math/seed0/run_info.json",
                                       lambda r: r.__setitem__("steps_done", 300))),
    "a robustness verdict": ("results/robustness.csv", lambda tree: _edit_file(
        tree / "results/robustness.csv", lambda text: text.replace("0:holds", "0:fails", 1))),
    "a seed verdict in the claim table": ("results/t2.csv", lambda tree: _edit_file(
        tree / "results/t2.csv", lambda text: text.replace("1/1 hold", "1/1 fail", 1))),
    "the markdown table": ("results/t2.md", lambda tree: (tree / "results/t2.md").write_text(
        (tree / "results/t2.md").read_text().replace("| gt |", "| gt (tuned) |"))),
}


@pytest.mark.parametrize("case", sorted(TAMPERS))
def test_each_tamper_fails_the_audit_naming_the_file(tree, case):
    rel, edit = TAMPERS[case]
    edit(tree)
    with pytest.raises(AuditFailed, match=rel.replace(".", r"\.")):
        _audit()
    assert rel in _failing(tree)


def test_a_rehashed_run_record_with_other_settings_still_fails(tree):
    """A forger who recomputes record_sha256 is caught by the config's own settings."""
    path = Path("results/runs/gt/A/math/seed0")
    info = json.loads((path / "run_info.json").read_text())
    unsealed = {k: v for k, v in info.items() if not k.endswith("sha256")}
    write_run_info(path, {**unsealed, "config": {**info["config"], "lr": 0.5}})
    with pytest.raises(AuditFailed):
        _audit()
    assert "config.lr" in (tree / "results/audit.txt").read_text()


def test_a_corrupted_metrics_file_is_named_in_audit_txt(tree):
    Path(GT).write_text('{"pass_at_k": {"1": 0.5')
    with pytest.raises(AuditFailed, match="audit failed"):
        _audit()
    report = (tree / "results/audit.txt").read_text()
    assert f"FAIL {GT}: metrics file named by the config cannot be read (JSONDecodeError" in report


def test_a_read_only_results_directory_is_named(tree):
    out = tree / "results" / "audit.txt"
    if os.geteuid() == 0:  # root writes through permissions: an unwritable path instead
        out.mkdir()
    else:
        os.chmod(tree / "results", 0o555)
    try:
        with pytest.raises(AuditFailed, match=f"cannot write the audit report {out.relative_to(tree)}"):
            _audit()
    finally:
        os.chmod(tree / "results", 0o755)


def test_restoring_the_file_passes_again(tree):
    original = Path(GT).read_bytes()
    TAMPERS["format_rate"][1](tree)
    with pytest.raises(AuditFailed):
        _audit()
    Path(GT).write_bytes(original)
    assert all(c.ok for c in _audit())


def test_table_registry_names_large_k_once():
    assert registry.output_paths(registry.LARGE_K)["crossings"] == Path(f"results/{registry.LARGE_K}_crossings.csv")
    assert registry.spec("any_claims_table") is registry.TABLES[registry.CLAIMS_TABLE]


def test_run_dir_copy_without_record_fails(tree):
    shutil.copytree("results/runs/gt/A/math/seed0", "results/runs/gt/A/math/seed1")
    (Path("results/runs/gt/A/math/seed1") / "run_info.json").unlink()
    checks = audit_run("results/runs/gt/A/math/seed1")
    assert [c.ok for c in checks] == [False] and "run record is missing" in checks[0].what


def test_a_table_deleted_beside_its_rendering_fails_and_unbuilt_tables_are_listed(tree):
    Path("results/t2.csv").unlink()
    with pytest.raises(AuditFailed, match="results/t2.csv"):
        _audit()
    report = (tree / "results/audit.txt").read_text()
    assert "not built: t2" in report.splitlines()[0]
    assert "FAIL results/t2.csv: is missing, but its other outputs exist (results/t2.md)" in report
