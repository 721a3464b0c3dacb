"""Regime statistics (issue 16, item 4): the clip split, the per-step style and lenient columns, the run
summary in run_info.json, the regime table, and the audit of both."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch
import yaml

from alignrl.analysis import registry
from alignrl.analysis.regime import COLUMN_DOCS, FIRST_LAST, MEAN_MAX, WINDOW, build_regime_table, summarize_log
from alignrl.claims.objectives import policy_loss
from alignrl.native.grpo import Group, StepResult
from alignrl.native.step_log import log_row
from alignrl.native.trainer import _reset_log
from alignrl.trace.audit import audit_run, run
from alignrl.trace.run_record import LOG_COLUMNS, PROMPT_LOG_COLUMNS, record_sha256, verl_train_log, write_run_info

REPO = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------- the clip split


def test_clip_split_counts_each_clipped_token_on_its_bound():
    ratio = torch.tensor([[0.5, 1.5, 1.0, 0.5, 1.5, 20.0, 0.5]])
    adv = torch.tensor([[-1.0, 1.0, 1.0, 1.0, -1.0, -1.0, -1.0]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 1, 0]])
    old = torch.full_like(ratio, -2.0)
    _, stats = policy_loss(old + ratio.log(), old, adv, mask, clip_low=0.2, clip_high=0.28, dual_clip=10.0)
    # token 0 (0.5, A<0): clipped low; token 1 (1.5, A>0): clipped high; token 2 inside the band; tokens 3 and
    # 4 left the band on the side their advantage does not push (the unclipped term wins); token 5 is the
    # dual clip's, not the band's; token 6 is masked
    assert stats["clip_low_fraction"] == pytest.approx(1 / 6)
    assert stats["clip_high_fraction"] == pytest.approx(1 / 6)
    assert stats["clip_fraction"] == pytest.approx(2 / 6)
    assert stats["clip_low_fraction"] + stats["clip_high_fraction"] == pytest.approx(stats["clip_fraction"])
    assert stats["dual_clip_fraction"] == pytest.approx(1 / 6)


def test_clip_split_is_zero_inside_the_band_and_with_zero_advantage():
    ratio = torch.tensor([[0.9, 1.1, 0.5, 1.5]])
    adv = torch.tensor([[-1.0, 1.0, 0.0, 0.0]])
    old = torch.zeros_like(ratio)
    _, stats = policy_loss(ratio.log(), old, adv, torch.ones_like(ratio), clip_low=0.2, clip_high=0.28)
    assert stats["clip_fraction"] == stats["clip_low_fraction"] == stats["clip_high_fraction"] == 0.0


# ----------------------------------------------------------------------------- one step's log row


def _group(styles, lenient, correct, formatted) -> Group:
    n = len(styles)
    return Group(uid="u", prompt=[1], responses=[[2, 3]] * n, rewards=[float(c) for c in correct], correct=correct,
                 formatted=formatted, pseudo_ok=True, advantages=torch.zeros(n), styles=styles, lenient=lenient)


def test_log_row_has_style_shares_lenient_accuracy_and_token_weighted_clip_split():
    groups = [
        _group(["careful", "careful", "shortcut", None], [True, True, False, True], [True, False, False, False],
               [True, True, True, False]),
        _group(["shortcut", "careful", None, None], [False, False, False, True], [False] * 4, [True] * 4),
    ]
    # two updates of 10 and 30 tokens: clip fractions (low, high) 0.1/0.2 and 0.0/0.1, stored times tokens
    updates = {"loss": [0.1, 0.2], "grad_norm": [1.0, 1.0], "tokens": [10.0, 30.0], "clip": [3.0, 3.0],
               "dual": [0.0, 0.0], "kl": [0.01, 0.03], "clip_low": [1.0, 0.0], "clip_high": [2.0, 3.0]}
    row = log_row(4, StepResult(groups, kept=2, generation_batches=1, entropy=0.5, updates=updates), 1e-3, None, 1.0)
    assert list(row) == list(LOG_COLUMNS)
    assert (row["style_careful"], row["style_shortcut"], row["style_none"]) == (3 / 8, 2 / 8, 3 / 8)
    assert row["lenient_accuracy"] == 4 / 8 and row["accuracy"] == 1 / 8 and row["format_rate"] == 7 / 8
    assert row["clip_fraction_low"] == pytest.approx(1 / 40) and row["clip_fraction_high"] == pytest.approx(5 / 40)
    assert row["clip_fraction_low"] + row["clip_fraction_high"] == pytest.approx(row["clip_fraction"])
    assert row["pseudo_label_accuracy"] == 1.0


def test_log_row_of_a_skipped_update_leaves_the_clip_split_empty():
    groups = [_group(["careful"] * 2, [True, True], [True, True], [True, True])]
    empty = {k: [] for k in ("loss", "grad_norm", "tokens", "clip", "dual", "kl", "clip_low", "clip_high")}
    row = log_row(1, StepResult(groups, 0, 2, 0.3, empty), 1e-3, None, 1.0)
    assert row["clip_fraction"] is row["clip_fraction_low"] is row["clip_fraction_high"] is None
    assert row["style_careful"] == 1.0 and row["lenient_accuracy"] == 1.0


def test_regime_columns_come_after_the_older_ones():
    old = LOG_COLUMNS[: LOG_COLUMNS.index("updates") + 1]
    assert LOG_COLUMNS[len(old):] == ("clip_fraction_low", "clip_fraction_high", "style_careful", "style_shortcut",
                                      "style_none", "lenient_accuracy")


def test_resume_keeps_the_rows_of_a_log_written_before_the_regime_columns(tmp_path):
    old = list(LOG_COLUMNS[: LOG_COLUMNS.index("updates") + 1])
    path = tmp_path / "train_log.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(old)
        w.writerows([[str(s)] + ["0.5"] * (len(old) - 1) for s in (1, 2, 3)])
    _reset_log(path, 2)
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == list(LOG_COLUMNS)
    assert [r[0] for r in rows[1:]] == ["1", "2"]
    assert all(len(r) == len(LOG_COLUMNS) and r[len(old):] == [""] * (len(LOG_COLUMNS) - len(old)) for r in rows[1:])


def test_verl_log_maps_our_plugins_clip_split_and_not_verls_dual_clip(tmp_path):
    records = [{"step": 1, "data": {"actor/pg_clipfrac": 0.3, "actor/pg_clipfrac_lower": 0.05,
                                    "actor/alignrl_clipfrac_low": 0.1, "actor/alignrl_clipfrac_high": 0.2}}]
    verl_train_log(records, tmp_path / "log.csv")
    with open(tmp_path / "log.csv", newline="") as fh:
        row = next(csv.DictReader(fh))
    assert (row["clip_fraction"], row["clip_fraction_low"], row["clip_fraction_high"]) == ("0.3", "0.1", "0.2")
    assert row["dual_clip_fraction"] == "0.05" and row["style_careful"] == "" and row["lenient_accuracy"] == ""


# ----------------------------------------------------------------------------- the run summary


def _write_log(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(LOG_COLUMNS))
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in LOG_COLUMNS})


def _steps(n: int) -> list[dict]:
    return [{"step": s, "clip_fraction": 0.01 * s, "clip_fraction_low": 0.004 * s, "clip_fraction_high": 0.006 * s,
             "approx_kl": 0.001, "entropy": 1.0 - 0.01 * s, "format_rate": 0.5 if s <= WINDOW else 0.9,
             "style_careful": 0.7, "style_shortcut": 0.2, "style_none": 0.1, "accuracy": s / n,
             "lenient_accuracy": s / n, "pseudo_label_accuracy": 0.5} for s in range(1, n + 1)]


def test_summary_means_maxima_and_first_last_windows(tmp_path):
    rows = _steps(25)
    rows[4]["clip_fraction"] = ""  # a step without update: no clipping measured, not a zero
    _write_log(tmp_path / "log.csv", rows[::-1])  # out of order: the summary goes by step
    s = summarize_log(tmp_path / "log.csv")
    assert s["steps"] == 25 and s["window"] == WINDOW
    measured = [0.01 * k for k in range(1, 26) if k != 5]
    assert s["clip_fraction"]["mean"] == pytest.approx(sum(measured) / 24)
    assert s["clip_fraction"]["max"] == pytest.approx(0.25)
    assert s["clip_fraction_low"]["max"] == pytest.approx(0.1) and s["entropy"]["max"] == pytest.approx(0.99)
    assert s["format_rate"] == pytest.approx({"first": 0.5, "last": 0.9})
    assert s["accuracy"]["first"] == pytest.approx(5.5 / 25) and s["accuracy"]["last"] == pytest.approx(20.5 / 25)
    assert set(s) == {"steps", "window", *MEAN_MAX, *FIRST_LAST}


def test_summary_of_unmeasured_and_diverged_columns(tmp_path):
    rows = _steps(3)
    for r in rows:
        r["style_careful"] = ""
    rows[1]["approx_kl"] = "nan"
    _write_log(tmp_path / "log.csv", rows)
    s = summarize_log(tmp_path / "log.csv")
    assert s["style_careful"] == {"first": None, "last": None}
    assert math.isnan(s["approx_kl"]["mean"]) and math.isnan(s["approx_kl"]["max"])
    # an empty log (no step yet) summarises to None everywhere, a log lacking a column leaves it unmeasured
    _write_log(tmp_path / "empty.csv", [])
    assert summarize_log(tmp_path / "empty.csv")["entropy"] == {"mean": None, "max": None}
    (tmp_path / "short.csv").write_text("step,entropy\n1,0.5\n")
    short = summarize_log(tmp_path / "short.csv")
    assert short["entropy"] == {"mean": 0.5, "max": 0.5} and short["clip_fraction_low"]["max"] is None


def test_summary_refuses_a_bad_log_naming_file_step_and_column(tmp_path):
    rows = _steps(3)
    rows[2]["entropy"] = "lots"
    _write_log(tmp_path / "log.csv", rows)
    with pytest.raises(ValueError, match=r"log\.csv: step 3, column 'entropy'"):
        summarize_log(tmp_path / "log.csv")
    (tmp_path / "nostep.csv").write_text("epoch,entropy\n1,0.5\n")
    with pytest.raises(ValueError, match="nostep.csv: not a training log"):
        summarize_log(tmp_path / "nostep.csv")


def _run(root: Path, claim: str, model: str, task: str, seed: int, rows: list[dict]) -> Path:
    run_dir = root / "results" / "runs" / claim / model / task / f"seed{seed}"
    (run_dir / "model").mkdir(parents=True)
    (run_dir / "model" / "config.json").write_text("{}")
    _write_log(run_dir / "train_log.csv", rows)
    (run_dir / "prompt_log.csv").write_text(",".join(PROMPT_LOG_COLUMNS) + "\n")
    write_run_info(run_dir, {"backend": "native", "config": {"lr": 1e-3}, "seed": seed, "task": task,
                             "generator": task, "steps_done": len(rows), "provenance": {"rule": "train", "inputs": {}}})
    return run_dir / "run_info.json"


def test_run_record_carries_the_summary_under_its_hash_and_the_audit_recomputes_it(tmp_path):
    info_path = _run(tmp_path, "gt", "A", "math", 0, _steps(12))
    info = json.loads(info_path.read_text())
    assert info["regime"] == json.loads(json.dumps(summarize_log(info_path.with_name("train_log.csv"))))
    assert info["record_sha256"] == record_sha256(info)
    assert all(c.ok for c in audit_run(info_path.parent)), [c.line() for c in audit_run(info_path.parent)]
    # an edited summary whose record hash was redone to match still fails: it is not the log's
    info["regime"]["clip_fraction"]["max"] = 0.5
    info["record_sha256"] = record_sha256(info)
    info_path.write_text(json.dumps(info))
    failed = [c for c in audit_run(info_path.parent) if not c.ok]
    assert [c.what for c in failed] == ["regime summary recomputed from train_log.csv"]
    assert "clip_fraction" in failed[0].detail


# ----------------------------------------------------------------------------- the regime table


def test_regime_table_has_one_row_per_run_in_order_and_documents_every_column(tmp_path):
    paths = [_run(tmp_path, c, m, "math", s, _steps(5)) for c in ("gt", "rnd") for m in ("A", "B") for s in (0, 1)]
    df = build_regime_table(paths)
    assert list(df.columns) == list(COLUMN_DOCS)
    assert list(zip(df.claim, df.model, df.seed)) == [(c, m, s) for c in ("gt", "rnd") for m in ("A", "B")
                                                      for s in (0, 1)]
    assert (df.task == "math").all() and (df.steps == 5).all()
    assert df.clip_fraction_max.tolist() == pytest.approx([0.05] * 8)
    assert df.format_rate_first.tolist() == [0.5] * 8 and df.run_info.tolist() == [str(p) for p in paths]
    md = registry.build(registry.REGIME, paths, {}).markdown
    for column in COLUMN_DOCS:
        assert f"- `{column}`: " in md, column
    assert "| claim | model | task | seed | steps | clip_fraction_mean |" in md


def test_regime_table_refuses_a_record_without_summary_naming_the_file(tmp_path):
    good = _run(tmp_path, "gt", "A", "math", 0, _steps(3))
    old = _run(tmp_path, "gt", "A", "logic", 0, _steps(3))
    info = json.loads(old.read_text())
    del info["regime"]
    old.write_text(json.dumps(info))
    with pytest.raises(ValueError, match=r"gt/A/logic/seed0/run_info\.json: the run record has no 'regime'"):
        build_regime_table([good, old])
    info["regime"] = {"steps": 3}
    old.write_text(json.dumps(info))
    with pytest.raises(ValueError, match=r"logic/seed0/run_info\.json: regime summary lacks 'clip_fraction\.mean'"):
        build_regime_table([good, old])
    stray = tmp_path / "elsewhere" / "run_info.json"
    stray.parent.mkdir()
    stray.write_text(good.read_text())
    with pytest.raises(ValueError, match="elsewhere/run_info.json: not a run record of the layout"):
        build_regime_table([stray])


def test_the_audit_rebuilds_the_regime_table_and_checks_each_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    inputs = [str(_run(Path("."), c, "A", "math", 0, _steps(4)).as_posix()) for c in ("gt", "rnd")]
    plan = {registry.REGIME: (inputs, {})}
    registry.write(registry.REGIME, registry.build(registry.REGIME, inputs, {}), registry.output_paths(registry.REGIME))
    checks = run({}, plan, "results")
    assert checks and all(c.ok for c in checks)
    assert any("regime summary recomputed" in c.what and "rnd" in c.path for c in checks)
    csv_path = Path("results/regime.csv")
    original = csv_path.read_text()
    csv_path.write_text(original.replace("gt,A,math,0", "gt,B,math,0"))
    with pytest.raises(Exception, match="results/regime.csv"):
        run({}, plan, "results")


def test_plan_and_targets_list_the_regime_of_every_claim_table_run():
    from alignrl.workflow.config import finalize_config
    from alignrl.workflow.plan import report_plan

    config = finalize_config(yaml.safe_load((REPO / "configs/smoke.yaml").read_text()))
    inputs, params = report_plan(config)[registry.REGIME]
    claims = ["ground_truth", "random", "one_shot_selected", "nsr"]  # table2, table3, table4, each once
    assert inputs == [f"results/runs/{c}/{m}/{t}/seed0/run_info.json" for c in claims for m in ("A", "B")
                      for t in ("logic", "math")]
    assert params == {}
    assert 'table("regime")' in (REPO / "rules/common.smk").read_text()
