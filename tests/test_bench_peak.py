"""benchmarks.peak: the FLOPs it counts are the matrix products of the job, and the table reads them right."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from benchmarks import peak  # noqa: E402


def test_pretraining_step_counts_six_flops_per_weight_per_token():
    """Forward 2, backward 4 FLOPs per weight per token (embedding lookup excluded, tied head included)."""
    from torch.utils.flop_counter import FlopCounterMode

    torch.set_num_threads(1)
    run = peak._unit("pretrain")
    with FlopCounterMode(display=False) as fc:
        run()
    from transformers import AutoConfig

    from benchmarks import common

    cfg = AutoConfig.from_pretrained(common.model_dir())
    h, i, layers, vocab = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers, cfg.vocab_size
    kv = h // cfg.num_attention_heads * cfg.num_key_value_heads
    per_layer = h * h * 2 + h * kv * 2 + 3 * h * i  # q, o; k, v; gate, up, down
    weights = layers * per_layer + h * vocab  # the tied output head is a matrix product, the lookup is not
    tokens = 32 * 128
    assert fc.get_total_flops() == pytest.approx(6 * weights * tokens, rel=0.01)


def test_peak_is_the_best_square_product_of_any_mode_and_the_modes_best_its_own():
    gemm = {"pinned": {"square 256": 90.0, "square 512": 80.0, "RL update: 1064 x 128 -> 384": 95.0},
            "portable": {"square 256": 40.0, "square 512": 45.0, "RL update: 1064 x 128 -> 384": 99.0}}
    # a job-shaped product faster than every square one is not the peak
    assert peak.peaks(gemm, "portable") == (90.0, "square 256, pinned", 45.0)
    assert peak.peaks(gemm, "pinned") == (90.0, "square 256, pinned", 90.0)


def _peak_data(fractions=(0.2, 0.2, 0.2, 0.2)) -> dict:
    return {"cpu": {"model_name": "X", "vendor": "V", "family": "1", "model": "2"}, "capability": "AVX2",
            "rounds": 1, "mode": "portable",
            "gemm_gflops": {"pinned": {"square 256": 100.0, "decode step: 256 x 128 -> 384": 50.0},
                            "portable": {"square 256": 40.0, "decode step: 256 x 128 -> 384": 30.0}},
            "peak_gflops": 100.0, "peak_at": "square 256, pinned", "mode_peak_gflops": 40.0,
            "jobs": {j: {"gflop_per_unit": 10.0, "cpu_seconds_per_unit": 0.5, "gflops": 20.0, "fraction_of_peak": f,
                         "fraction_of_mode_peak": 0.5} for j, f in zip(peak.JOBS, fractions)}}


def test_markdown_names_the_peak_the_modes_and_each_job_fraction():
    data = _peak_data()
    text = "\n".join(peak.markdown(data))
    assert "**100.0 GFLOP/s** (square 256, pinned)" in text
    assert "`portable`, reaches 40.0 GFLOP/s at best (0.40 of the peak)" in text
    assert "| decode step: 256 x 128 -> 384 | 50.0 | 30.0 | 0.50 | 0.30 |" in text
    assert text.count("| 0.20 | 0.50 |") == len(peak.JOBS)


def test_the_summary_holds_each_jobs_fraction_of_peak_against_issue_18s_goal():
    from benchmarks import run

    data = _peak_data((0.37, 0.29, 0.2, 0.23))
    machine = {"cpu": "X", "cores": 2, "python": "3.11", "torch": "2", "transformers": "5",
               "load_average_at_start": 0.0}
    summary = run.render({"machine": machine, "peak": data}).split("## Summary")[1].split("\n\n")[1]
    assert "| fraction of the machine's peak: pretrain (`portable`, below) | **0.37** | >= 0.50 (issue 18) |" in summary
    assert "| fraction of the machine's peak: rl_step (`portable`, below) | **0.29** | >= 0.50 (issue 18) |" in summary
    assert "| fraction of the machine's peak: evaluate (`portable`, below) | **0.20** | - |" in summary
