"""alignrl.native.run_check: a run that made no update, or ended equal to its base, is refused."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from alignrl.native.run_check import RunDidNotTrain, check_run_trained


def _run(tmp_path: Path, updates: list[int], grad: str = "0.5", same_weights: bool = False) -> tuple[Path, Path]:
    base, run = tmp_path / "base", tmp_path / "run"
    (run / "model").mkdir(parents=True)
    base.mkdir()
    w = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3)}
    save_file(w, str(base / "model.safetensors"))
    save_file(w if same_weights else {"w": w["w"] + 1e-3}, str(run / "model" / "model.safetensors"))
    with open(run / "train_log.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["step", "updates", "grad_norm"])
        for step, n in enumerate(updates, 1):
            writer.writerow([step, n, grad if n else ""])
    return run, base


def test_a_run_that_updated_passes(tmp_path):
    assert check_run_trained(*_run(tmp_path, [0, 2, 2])) == {"steps": 3, "updates": 4}


def test_no_update_is_refused(tmp_path):
    with pytest.raises(RunDidNotTrain, match="no optimizer update"):
        check_run_trained(*_run(tmp_path, [0, 0, 0]))


def test_zero_gradient_is_refused(tmp_path):
    with pytest.raises(RunDidNotTrain, match="zero"):
        check_run_trained(*_run(tmp_path, [2, 2], grad="0"))


def test_weights_equal_to_the_base_are_refused(tmp_path):
    with pytest.raises(RunDidNotTrain, match="identical to the base"):
        check_run_trained(*_run(tmp_path, [2], same_weights=True))


def test_the_smoke_config_requires_updates_and_gives_every_claim_a_gradient():
    """The smoke bases answer nothing correctly: without these its RL never updates (issue 19.1)."""
    import yaml

    cfg = yaml.safe_load((Path(__file__).resolve().parent.parent / "configs/smoke.yaml").read_text())
    assert cfg["require_training_updates"] is True
    assert cfg["training"]["dynamic_sampling"] is False
    assert all(claim.get("entropy_coef", 0) > 0 for claim in cfg["claims"].values())
