"""Tests of provenance records: hashes, git state, versions, hardware and the combined record."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from alignrl.trace.provenance import (
    config_hash,
    git_state,
    hardware,
    package_versions,
    provenance,
    sha256_file,
    sha256_tree,
)

torch.set_num_threads(1)
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("alpha")
    (root / "sub" / "b.bin").write_bytes(b"\x00\x01beta")
    return root


def test_sha256_file_matches_hashlib(tmp_path):
    path = tmp_path / "f.bin"
    data = bytes(range(256)) * 5000  # larger than one read chunk
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    assert sha256_file(str(path)) == sha256_file(path)


def test_sha256_tree_tracks_names_and_contents(tmp_path):
    a = _tree(tmp_path / "a")
    b = _tree(tmp_path / "b")
    base = sha256_tree(a)
    assert base == sha256_tree(b)  # same content, different location
    (b / "sub" / "empty").mkdir()
    assert sha256_tree(b) == base  # empty directories do not count
    (b / ".snakemake_timestamp").touch()
    assert sha256_tree(b) == base  # Snakemake's marker, added after the job that hashed the directory
    (b / "sub" / ".snakemake_timestamp").write_text("x")
    assert sha256_tree(b) == base
    (b / "a.txt").write_text("alphA")
    assert sha256_tree(b) != base
    (b / "a.txt").write_text("alpha")
    (b / "a.txt").rename(b / "c.txt")
    assert sha256_tree(b) != base
    (b / "c.txt").rename(b / "a.txt")
    assert sha256_tree(b) == base
    (b / "new").write_text("")
    assert sha256_tree(b) != base
    with pytest.raises(NotADirectoryError):
        sha256_tree(a / "a.txt")


def test_config_hash_is_canonical():
    cfg = {"b": [1, 2, {"y": 1.5, "x": None}], "a": "text"}
    same = {"a": "text", "b": (1, 2, {"x": None, "y": 1.5})}
    assert config_hash(cfg) == config_hash(same)
    assert config_hash(cfg) != config_hash({"a": "text", "b": [2, 1, {"x": None, "y": 1.5}]})
    assert config_hash({"k": np.int64(3), "p": Path("x/y")}) == config_hash({"k": 3, "p": "x/y"})
    assert len(config_hash({})) == 64
    with pytest.raises(TypeError):
        config_hash({"f": object()})


def test_git_state_outside_a_repository(tmp_path):
    state = git_state(tmp_path)
    assert state["commit"] is None and state["dirty"] is None
    assert state["note"]


def test_git_state_without_git(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: no git executable
    state = git_state(tmp_path)
    assert state == {"commit": None, "dirty": None, "note": "git executable not found"}


@needs_git
def test_git_state_of_a_repository(tmp_path):
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.org",
                        "-c", "commit.gpgsign=false", *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "f.txt").write_text("one")
    state = git_state(tmp_path)
    assert state["commit"] is None and state["dirty"] is True and "no commit" in state["note"]
    git("add", "f.txt")
    git("commit", "-q", "-m", "first")
    state = git_state(tmp_path)
    assert len(state["commit"]) == 40 and state["dirty"] is False and state["note"] is None
    (tmp_path / "f.txt").write_text("two")
    assert git_state(tmp_path)["dirty"] is True


def test_package_versions():
    versions = package_versions(["numpy", "torch", "surely-not-an-installed-package-xyz"])
    assert versions["numpy"] == np.__version__
    assert versions["torch"] is not None
    assert versions["surely-not-an-installed-package-xyz"] is None


def test_hardware():
    info = hardware()
    assert info["cpu_count"] >= 1 and info["torch_threads"] == torch.get_num_threads()
    assert info["platform"] and info["python"]
    assert info["cuda_device"] is None or isinstance(info["cuda_device"], str)


def test_provenance_record(tmp_path):
    data = tmp_path / "data.parquet"
    data.write_bytes(b"rows")
    model = _tree(tmp_path / "model")
    started = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    record = provenance(
        rule="baseline_passk",
        wildcards={"model": "strong", "task": "math"},
        inputs={"data": data, "model": str(model), "several": [data, model]},
        config_subtree={"evaluation": {"n": 4, "ks": (1, 2)}},
        seeds={"evaluation": 1234},
        started_at=started,
        finished_at=None,
        repo_dir=tmp_path,
    )
    json.dumps(record)  # must be JSON-serialisable as it is
    assert record["rule"] == "baseline_passk"
    assert record["wildcards"] == {"model": "strong", "task": "math"}
    assert record["inputs"]["data"] == {"path": str(data), "kind": "file", "sha256": sha256_file(data)}
    assert record["inputs"]["model"]["kind"] == "directory"
    assert record["inputs"]["model"]["sha256"] == sha256_tree(model)
    assert [x["kind"] for x in record["inputs"]["several"]] == ["file", "directory"]
    assert record["config"] == {"evaluation": {"n": 4, "ks": [1, 2]}}
    assert record["config_hash"] == config_hash({"evaluation": {"n": 4, "ks": [1, 2]}})
    assert record["seeds"] == {"evaluation": 1234}
    assert record["git"]["commit"] is None and record["git"]["note"]
    assert record["packages"]["torch"] is not None
    assert record["started_at"] == "2025-01-02T03:04:05+00:00"
    assert dt.datetime.fromisoformat(record["finished_at"]) >= started
    with pytest.raises(FileNotFoundError):
        provenance(rule="r", wildcards={}, inputs={"x": tmp_path / "missing"}, config_subtree={}, seeds={})
