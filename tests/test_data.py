"""verl-format rows: construction, parquet round trip, validation errors."""

from __future__ import annotations

import copy
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alignrl.claims.answer import build_prompt
from alignrl.claims.rows import DataError, problems_to_rows, read_rows, write_rows
from alignrl.claims.tasks import get_task, make_splits

TEMPLATE = "Solve step by step . Answer in <answer> \\boxed{} </answer> .\n{question}"


@pytest.fixture
def rows():
    problems = make_splits("logic", {"test": 6}, seed=1)["test"]
    return problems_to_rows(problems, "logic", "logic", "test", TEMPLATE)


def test_problems_to_rows_shape(rows):
    problems = make_splits("logic", {"test": 6}, seed=1)["test"]
    assert problems_to_rows(problems, get_task("logic"), "logic", "test", TEMPLATE) == rows
    for i, (row, p) in enumerate(zip(rows, problems)):
        assert row == {
            "data_source": "synthetic/logic",
            "prompt": [{"role": "user", "content": build_prompt(p.question, TEMPLATE)}],
            "ability": "logic",
            "reward_model": {"style": "rule", "ground_truth": p.answer},
            "extra_info": {
                "split": "test",
                "index": i,
                "uid": p.uid,
                "question": p.question,
                "solution": p.solution,
            },
        }
    # The configured dataset name need not be a generator name.
    other = problems_to_rows(problems, "kor_cipher", "reasoning", "val", TEMPLATE)
    assert {r["data_source"] for r in other} == {"synthetic/kor_cipher"}
    assert {r["ability"] for r in other} == {"reasoning"}
    assert {r["extra_info"]["split"] for r in other} == {"val"}
    with pytest.raises(ValueError, match="prompt_template"):
        problems_to_rows(problems, "logic", "logic", "test", "no field")


def test_round_trip_plain_types(tmp_path, rows):
    path = write_rows(rows, tmp_path / "a" / "b" / "test.parquet")
    assert path.is_file()
    assert list(tmp_path.joinpath("a", "b").iterdir()) == [path]  # no temp file left over
    back = read_rows(path)
    assert back == rows
    # Plain Python containers, not numpy arrays, so json.dumps and == work downstream.
    assert type(back[0]["prompt"]) is list and type(back[0]["prompt"][0]) is dict
    assert type(back[0]["extra_info"]["index"]) is int


def test_round_trip_empty(tmp_path):
    path = write_rows([], tmp_path / "empty.parquet")
    assert read_rows(path) == []


def test_failed_write_keeps_old_file(tmp_path, rows, monkeypatch):
    path = write_rows(rows, tmp_path / "x.parquet")

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", boom)
    with pytest.raises(OSError):
        write_rows(rows[:1], path)
    assert read_rows(path) == rows
    assert list(tmp_path.iterdir()) == [path]


def _bad(rows, i, mutate):
    rows = copy.deepcopy(rows)
    mutate(rows[i])
    return rows


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda r: r.pop("prompt"), "missing keys \\['prompt'\\]"),
        (lambda r: r.update(prompt=[]), "prompt must be a non-empty list"),
        (lambda r: r["prompt"][0].update(content=""), "prompt\\[0\\] has empty content"),
        (lambda r: r["reward_model"].update(ground_truth=""), "ground_truth"),
        (lambda r: r["extra_info"].update(uid=""), "extra_info.uid"),
    ],
)
def test_read_rows_names_file_and_row(tmp_path, rows, mutate, message):
    path = tmp_path / "bad.parquet"
    # Write around write_rows (which validates) to simulate a file produced elsewhere.
    bad = _bad(rows, 3, mutate)
    pq.write_table(pa.Table.from_pylist(bad, schema=pa.Table.from_pylist(rows).schema), path)
    with pytest.raises(DataError, match=rf"{re.escape(str(path))}: row 3\b.*{message}"):
        read_rows(path)


def test_write_rows_validates(tmp_path, rows):
    bad = _bad(rows, 2, lambda r: r["reward_model"].update(ground_truth=""))
    path = tmp_path / "w.parquet"
    pattern = rf"{re.escape(str(path))}: row 2 \(uid logic-\d+\): .*ground_truth"
    with pytest.raises(DataError, match=pattern):
        write_rows(bad, path)
    assert not path.exists()


def test_read_rows_bad_files(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_rows(tmp_path / "missing.parquet")
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match=f"{re.escape(str(junk))}: cannot read parquet"):
        read_rows(junk)
