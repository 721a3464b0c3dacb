"""Tests of evaluate(): prompts, sampling, extraction, grading, pass@k metrics and atomic output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from alignrl.claims.answer import format_response
from alignrl.claims.passk import pass_at_k_table
from alignrl.claims.rows import problems_to_rows
from alignrl.claims.scoring import SAMPLE_COLUMNS, task_of_row
from alignrl.claims.tasks import get_task, make_splits
from alignrl.native import evaluate as evaluate_module
from alignrl.native.evaluate import evaluate
from alignrl.native.modeling import build_model
from alignrl.native.sampling import Completion
from alignrl.native.tokenizer import build_tokenizer, render_chat_prompt
from alignrl.trace.records import write_evaluation

torch.set_num_threads(1)

TEMPLATE = "Solve : {question}"
SETTINGS = dict(n=4, ks=[1, 2, 4], temperature=1.0, top_p=1.0, max_new_tokens=6, batch_size=16, seed=0,
                n_boot=50, alpha=0.1, threads=1, progress=False)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny random model directory with the project's tokenizer, and 4 math rows."""
    task = get_task("math")
    problems = make_splits(task, {"test": 4}, seed=0)["test"]
    rows = problems_to_rows(problems, "math", task.ability, "test", TEMPLATE)
    texts = [
        render_chat_prompt(row["prompt"][0]["content"]) + format_response(p.solution, p.answer) + "<|im_end|>"
        for row, p in zip(rows, problems)
    ]
    tokenizer = build_tokenizer(texts)
    model = build_model("qwen2", len(tokenizer), hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64,
                        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    model_dir = tmp_path_factory.mktemp("model")
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    return model_dir, rows, problems, tokenizer


def test_random_model_end_to_end(setup):
    model_dir, rows, _, _ = setup
    samples, metrics = evaluate(model_dir, rows, **SETTINGS)
    assert list(samples.columns) == list(SAMPLE_COLUMNS)
    assert len(samples) == len(rows) * 4
    uids = [r["extra_info"]["uid"] for r in rows]
    assert list(samples["problem_id"]) == [u for u in uids for _ in range(4)]
    assert list(samples["sample_index"]) == [s for _ in uids for s in range(4)]
    assert samples["response_tokens"].between(1, 6).all()
    assert not samples["text"].str.contains("<|im_end|>", regex=False).any()
    for key in ("n", "ks", "temperature", "top_p", "max_new_tokens", "num_problems", "pass_at_k",
                "pass_at_k_ci", "mean_response_tokens", "format_rate"):
        assert key in metrics
    assert metrics["num_problems"] == len(rows) and metrics["ks"] == [1, 2, 4]
    for k in (1, 2, 4):
        low, high = metrics["pass_at_k_ci"][k]
        assert 0.0 <= low <= metrics["pass_at_k"][k] <= high <= 1.0
    # Same seed, different batch size: identical samples.
    again, metrics_again = evaluate(model_dir, rows, **{**SETTINGS, "batch_size": 3})
    pd.testing.assert_frame_equal(samples, again)
    assert metrics_again == metrics


def test_base_and_checkpoint_get_identical_treatment(setup, tmp_path, monkeypatch):
    """Same prompts and sampling stream for any model dir; only the weights can change the samples."""
    model_dir, rows, _, tokenizer = setup
    copy = tmp_path / "checkpoint"
    shutil.copytree(model_dir, copy)
    seen: list[list[list[int]]] = []
    real_sample = evaluate_module.sample

    def spy(model, prompt_ids, **kwargs):
        seen.append(prompt_ids)
        return real_sample(model, prompt_ids, **kwargs)

    monkeypatch.setattr(evaluate_module, "sample", spy)
    a, _ = evaluate(model_dir, rows, **SETTINGS)
    b, _ = evaluate(copy, rows, **SETTINGS)
    pd.testing.assert_frame_equal(a, b)
    expected = [tokenizer(render_chat_prompt(r["prompt"][0]["content"]), add_special_tokens=False)["input_ids"]
                for r in rows]
    assert seen[0] == seen[1] == expected


def test_grading_of_known_completions(setup, monkeypatch):
    """Planted responses: the extracted answers, correctness, format and pass@k follow exactly."""
    model_dir, rows, problems, tokenizer = setup
    eos = tokenizer.eos_token_id
    correct_counts = [0, 1, 3, 4]

    def encode(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    def fake_sample(model, prompt_ids, *, n, **kwargs):
        comps = []
        for p, problem in enumerate(problems):
            for s in range(n):
                if s < correct_counts[p]:
                    ids = encode(format_response(problem.solution, problem.answer)) + [eos]
                elif s == n - 1:
                    ids = encode(problem.question)  # no tags, no eos: truncated and unformatted
                else:
                    ids = encode(format_response(problem.solution, str(int(problem.answer) + 1))) + [eos]
                comps.append(Completion(p, s, ids, ids[-1] == eos, [0.0] * len(ids)))
        kwargs["on_batch"](len(comps))
        return comps

    monkeypatch.setattr(evaluate_module, "sample", fake_sample)
    samples, metrics = evaluate(model_dir, rows, **SETTINGS)
    assert samples.groupby("problem_id", sort=False)["correct"].sum().tolist() == correct_counts
    first = samples.iloc[0 + 4 * 3]  # problem 3, sample 0: correct
    assert first["text"] == format_response(problems[3].solution, problems[3].answer)
    assert first["extracted_answer"] == problems[3].answer and first["well_formatted"] and first["finished"]
    unformatted = samples[~samples["text"].str.contains("<think>", regex=False)]
    assert len(unformatted) == 3
    assert unformatted["extracted_answer"].isna().all() and not unformatted["well_formatted"].any()
    assert not unformatted["finished"].any()
    expected = pass_at_k_table(correct_counts, 4, [1, 2, 4])
    assert metrics["pass_at_k"] == pytest.approx(expected)
    assert metrics["format_rate"] == pytest.approx(1 - unformatted.shape[0] / len(samples))


def test_validation_and_task_lookup(setup):
    model_dir, rows, _, _ = setup
    with pytest.raises(ValueError, match="k"):
        evaluate(model_dir, rows, **{**SETTINGS, "ks": [1, 8]})
    assert task_of_row(rows[0]) == "math"
    with pytest.raises(ValueError):
        task_of_row({"data_source": "openai/gsm8k"})
    renamed = [{**r, "data_source": "synthetic/math_hard"} for r in rows]
    with pytest.raises(KeyError):
        evaluate(model_dir, renamed, **SETTINGS)
    samples, _ = evaluate(model_dir, renamed, **{**SETTINGS, "task": "math"})
    assert len(samples) == 16
    with pytest.raises(ValueError):
        evaluate(model_dir, [], **SETTINGS)


def test_write_evaluation_round_trip_and_atomicity(setup, tmp_path):
    model_dir, rows, _, _ = setup
    samples, metrics = evaluate(model_dir, rows, **SETTINGS)
    out = tmp_path / "eval"
    samples_path, metrics_path = write_evaluation(samples, metrics, out)
    pd.testing.assert_frame_equal(pd.read_parquet(samples_path), samples)
    loaded = json.loads(metrics_path.read_text())
    assert loaded["pass_at_k"] == {str(k): v for k, v in metrics["pass_at_k"].items()}
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "samples.parquet"]

    # A failed rewrite leaves no metrics.json vouching for stale samples, and no temporary files.
    broken = samples.assign(text=[object()] * len(samples))
    # pyarrow cannot convert the object column: ArrowInvalid, a ValueError
    with pytest.raises(ValueError):
        write_evaluation(broken, metrics, out)
    assert sorted(p.name for p in Path(out).iterdir()) == ["samples.parquet"]
