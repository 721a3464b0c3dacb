"""Hub datasets and models: conversion of rows shaped like each real dataset, local copies, and the error
when the hub cannot be reached (tests never touch the network: the hub is forced offline)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from alignrl.backends.hub_data import LOADERS, HubDataError, convert, load_records, prepare_split
from alignrl.backends.hub_models import HubModelError, fetch_model
from alignrl.claims.rows import validate_row

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = "Solve: {question}"

# One record shaped like each dataset on the hub (field names and types as published).
SHAPES = {
    "deepscaler": ({"problem": "Find x if 2x=4.", "answer": "2", "solution": "x = 2"}, "Find x if 2x=4.", "2"),
    "math500": ({"problem": "Compute 1/2+1/2.", "solution": "...", "answer": "1", "subject": "Algebra", "level": 1,
                 "unique_id": "test/algebra/1.json"}, "Compute 1/2+1/2.", "1"),
    "aime24": ({"id": 60, "problem": "AIME problem", "solution": "...", "answer": "204", "url": "u", "year": 2024},
               "AIME problem", "204"),
    "amc23": ({"id": 0, "question": "AMC problem", "answer": 27.0}, "AMC problem", "27"),
    "synlogic": ({"data_source": "game_of_24", "ability": "logic",
                  "prompt": [{"role": "user", "content": "Make 24 from 1 2 3 4."}],
                  "reward_model": {"ground_truth": "(1+2+3)*4", "style": "rule"},
                  "extra_info": {"game_data_str": "{}"}}, "Make 24 from 1 2 3 4.", "(1+2+3)*4"),
    "kor_bench": ({"idx": 3, "rule_id": 1, "question": "Compute 2@3.", "answer": "7",
                   "rule_content": "a@b = 2a + b"}, "a@b = 2a + b\n\nCompute 2@3.", "7"),
}


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_each_dataset_shape_converts_to_valid_rows(loader):
    record, question, answer = SHAPES[loader]
    spec = {"loader": loader, "hub_id": f"org/{loader}", "split": "test"}
    [row] = convert([record], name="bench", spec=spec, task="t", ability="math", split="test", template=TEMPLATE)
    validate_row(row, 0)
    assert row["prompt"] == [{"role": "user", "content": f"Solve: {question}"}]
    assert row["reward_model"]["ground_truth"] == answer
    assert row["data_source"] == "hub/t/bench" and row["extra_info"]["uid"] == "t-bench-000000"


def test_synlogic_answer_from_game_data_and_a_record_without_answer_is_named():
    rec = {"prompt": "Solve the maze.", "reward_model": {"ground_truth": ""},
           "extra_info": {"game_data_str": json.dumps({"answer": "RRDD"})}}
    spec = {"loader": "synlogic", "hub_id": "MiniMaxAI/SynLogic", "split": "train"}
    [row] = convert([rec], name="train", spec=spec, task="logic", ability="logic", split="train", template=TEMPLATE)
    assert row["reward_model"]["ground_truth"] == "RRDD"
    with pytest.raises(HubDataError, match=r"dataset 'train' \(MiniMaxAI/SynLogic\), record 1: no answer"):
        convert([rec, {"prompt": "q"}], name="train", spec=spec, task="logic", ability="logic", split="train",
                template=TEMPLATE)


def test_train_and_val_are_disjoint_and_seeded():
    records = [{"problem": f"q{i}", "answer": str(i)} for i in range(50)]
    cfg = {"seed": 1, "val_size": 10, "datasets": {"train": {"loader": "deepscaler", "hub_id": "x", "split": "train"}}}
    fake = lambda name, spec: records  # noqa: E731
    train = prepare_split("math", "train", cfg, "math", TEMPLATE, loader=fake)
    val = prepare_split("math", "val", cfg, "math", TEMPLATE, loader=fake)
    assert len(train) == 40 and len(val) == 10
    assert not {r["extra_info"]["uid"] for r in train} & {r["extra_info"]["uid"] for r in val}
    assert val == prepare_split("math", "val", cfg, "math", TEMPLATE, loader=fake)
    assert [r["extra_info"]["index"] for r in val] == list(range(10))
    with pytest.raises(HubDataError, match="no dataset named 'aime24'"):
        prepare_split("math", "aime24", cfg, "math", TEMPLATE, loader=fake)


def test_local_copy_is_read_through_the_datasets_library(tmp_path):
    path = tmp_path / "amc.jsonl"
    path.write_text("\n".join(json.dumps({"id": i, "question": f"q{i}", "answer": float(i)}) for i in range(3)))
    records = load_records("amc23", {"loader": "amc23", "hub_id": "math-ai/amc23", "split": "test",
                                     "local_path": str(path)})
    assert [r["question"] for r in records] == ["q0", "q1", "q2"]
    with pytest.raises(HubDataError, match="does not exist"):
        load_records("amc23", {"loader": "amc23", "hub_id": "x", "split": "test", "local_path": str(tmp_path / "no")})


OFFLINE_SNIPPET = """
from alignrl.backends.hub_data import HubDataError, load_records
try:
    load_records("train", {"loader": "deepscaler", "hub_id": "agentica-org/DeepScaleR-Preview-Dataset", "subset": None,
                           "split": "train"})
except HubDataError as exc:
    print("MESSAGE:", exc)
else:
    raise SystemExit("loaded without a hub")
"""


def offline_env(tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HOME=str(tmp_path / "hf"),
               PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return env


def test_unreachable_hub_names_dataset_id_and_the_fix(tmp_path):
    out = subprocess.run([sys.executable, "-c", OFFLINE_SNIPPET], env=offline_env(tmp_path), capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    message = out.stdout.split("MESSAGE:", 1)[1]
    assert "dataset 'train'" in message and "agentica-org/DeepScaleR-Preview-Dataset" in message
    assert "pre-download" in message and "local_path" in message and "HF_HUB_OFFLINE" in message


def test_hub_model_from_a_local_copy_and_a_clear_error_offline(tmp_path):
    src = tmp_path / "qwen"
    src.mkdir()
    (src / "config.json").write_text("{}")
    (src / "model.safetensors").write_bytes(b"weights")
    fetch_model("qwen", {"hub_id": "Qwen/Qwen2.5-7B", "local_path": str(src)}, tmp_path / "models" / "qwen")
    assert (tmp_path / "models" / "qwen" / "model.safetensors").read_bytes() == b"weights"
    with pytest.raises(HubModelError, match="not a Hugging Face model directory"):
        fetch_model("bad", {"hub_id": "x", "local_path": str(tmp_path)}, tmp_path / "models" / "bad")
    snippet = ("from alignrl.backends.hub_models import fetch_model, HubModelError\n"
               "try:\n    fetch_model('llama', {'hub_id': 'meta-llama/Llama-3.1-8B-Instruct'}, 'out')\n"
               "except HubModelError as exc:\n    print('MESSAGE:', exc)\n")
    out = subprocess.run([sys.executable, "-c", snippet], env=offline_env(tmp_path), capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    message = out.stdout.split("MESSAGE:", 1)[1]
    assert "model 'llama'" in message and "meta-llama/Llama-3.1-8B-Instruct" in message and "local_path" in message


def _kor_release_copy(root: Path) -> Path:
    """A local copy in KOR-Bench's released layout (KOR-Bench/KOR-Bench on GitHub):
    data/<subset>/{sample,rule}.jsonl."""
    sub = root / "data" / "operation"
    sub.mkdir(parents=True)
    (sub / "rule.jsonl").write_text(
        json.dumps({"idx": "1", "title": "@", "rule_content": "a@b = a + 2b.", "tag": "Basic Level"}) + "\n"
        + json.dumps({"idx": "2", "title": "#", "rule_content": "a#b = a * b.", "tag": "Basic Level"}) + "\n")
    (sub / "sample.jsonl").write_text(
        json.dumps({"idx": "1", "question": "Compute 1@2.\nWrap it like this: [[your answer]].", "answer": "[[5]]",
                    "rule_id": "1"}) + "\n"
        + json.dumps({"idx": "2", "question": "Compute 2#3.", "answer": "[[6]]", "rule_id": "2"}) + "\n")
    return sub


@pytest.mark.parametrize("which", ["dir", "sample"])
def test_kor_bench_release_layout_joins_each_rule_to_its_questions(tmp_path, which):
    sub = _kor_release_copy(tmp_path)
    spec = {"loader": "kor_bench", "hub_id": "KOR-Bench/KOR-Bench", "subset": "operation", "split": "train",
            "local_path": str(sub if which == "dir" else sub / "sample.jsonl")}
    records = load_records("kor_operation", spec)
    assert [r["rule_content"] for r in records] == ["a@b = a + 2b.", "a#b = a * b."]
    question, answer = LOADERS["kor_bench"](records[0])
    assert question.startswith("a@b = a + 2b.\n\nCompute 1@2.") and answer == "5"  # [[5]] unwrapped


def test_kor_bench_release_with_a_missing_rule_is_named(tmp_path):
    sub = _kor_release_copy(tmp_path)
    (sub / "rule.jsonl").write_text(json.dumps({"idx": "1", "rule_content": "a@b = a + 2b."}) + "\n")
    spec = {"loader": "kor_bench", "hub_id": "KOR-Bench/KOR-Bench", "split": "train", "local_path": str(sub)}
    with pytest.raises(HubDataError, match="rule_id '2' has no rule"):
        load_records("kor_operation", spec)
