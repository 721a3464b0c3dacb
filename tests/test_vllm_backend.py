"""The vLLM backend's request building and result parsing, with plain objects shaped like vLLM's outputs
(vLLM itself needs a GPU: the one test that imports it is skipped where it is not installed)."""
from types import SimpleNamespace

import pytest

from alignrl.backends.vllm import MAX_N, build_requests, parse_outputs, request_seed
from alignrl.claims.answer import format_response
from alignrl.claims.passk import pass_at_k
from alignrl.claims.scoring import SAMPLE_COLUMNS, summarize


class FakeTokenizer:
    """Chat template = role-tagged lines; one token per character."""

    def apply_chat_template(self, messages, add_generation_prompt, tokenize):
        assert add_generation_prompt and not tokenize
        return "".join(f"<{m['role']}>{m['content']}\n" for m in messages) + "<assistant>"

    def __call__(self, text, add_special_tokens):
        assert add_special_tokens is False  # the template already holds every special token
        return {"input_ids": [ord(c) for c in text]}


def rows(n=3):
    return [
        {"data_source": "hub/math/math500", "prompt": [{"role": "user", "content": f"what is {i}+{i}?"}],
         "ability": "math", "reward_model": {"style": "rule", "ground_truth": str(2 * i)},
         "extra_info": {"uid": f"p{i}", "split": "test", "index": i}}
        for i in range(n)
    ]


def test_requests_render_the_chat_prompt_and_carry_the_sampling_settings():
    reqs = build_requests(FakeTokenizer(), rows(), n=8, temperature=0.6, top_p=0.95, max_new_tokens=128, seed=7)
    assert [r.problem_id for r in reqs] == ["p0", "p1", "p2"]
    assert "".join(map(chr, reqs[1].prompt_token_ids)) == "<user>what is 1+1?\n<assistant>"
    s = reqs[0].sampling
    assert (s["n"], s["temperature"], s["top_p"], s["max_tokens"]) == (8, 0.6, 0.95, 128)
    assert s["skip_special_tokens"] is True
    # per-problem seeds: distinct across problems, the same whatever else is in the batch
    seeds = [r.sampling["seed"] for r in reqs]
    assert len(set(seeds)) == 3
    alone = build_requests(FakeTokenizer(), rows()[2:], n=8, temperature=0.6, top_p=0.95, max_new_tokens=128, seed=7)
    assert alone[0].sampling["seed"] == seeds[2] == request_seed(7, "p2")
    assert request_seed(8, "p2") != seeds[2]


def test_n_up_to_256_and_bad_input_is_refused():
    requests = build_requests(FakeTokenizer(), rows(1), n=MAX_N, temperature=1, top_p=1, max_new_tokens=4, seed=0)
    assert requests[0].sampling["n"] == 256
    with pytest.raises(ValueError, match="1 to 256"):
        build_requests(FakeTokenizer(), rows(1), n=257, temperature=1, top_p=1, max_new_tokens=4, seed=0)
    dup = rows(2)
    dup[1]["extra_info"]["uid"] = "p0"
    with pytest.raises(ValueError, match="unique"):
        build_requests(FakeTokenizer(), dup, n=2, temperature=1, top_p=1, max_new_tokens=4, seed=0)


def completion(index, text, finish="stop"):
    return SimpleNamespace(index=index, text=text, token_ids=list(range(len(text.split()))), finish_reason=finish)


def test_outputs_become_the_same_per_sample_table_and_pass_at_k():
    rs = rows(2)
    reqs = build_requests(FakeTokenizer(), rs, n=4, temperature=1, top_p=1, max_new_tokens=64, seed=0)
    outs = [
        # vLLM may return completions out of index order
        SimpleNamespace(outputs=[completion(2, format_response("a", "0")), completion(0, format_response("b", "0")),
                                 completion(1, "<think>x</think><answer>\\boxed{5}</answer>"),
                                 completion(3, "cut off", finish="length")]),
        SimpleNamespace(outputs=[completion(i, format_response("c", "3")) for i in range(4)]),
    ]
    samples = parse_outputs(outs, reqs, rs, task="math_verify")
    assert list(samples.columns) == list(SAMPLE_COLUMNS)
    first = samples[samples.problem_id == "p0"].sort_values("sample_index")
    assert first["sample_index"].tolist() == [0, 1, 2, 3]
    assert first["correct"].tolist() == [True, False, True, False]
    assert first["extracted_answer"].tolist()[:3] == ["0", "5", "0"] and first["extracted_answer"].isna().tolist()[3]
    assert first["finished"].tolist() == [True, True, True, False]
    assert not samples[samples.problem_id == "p1"]["correct"].any()
    metrics = summarize(samples, n=4, ks=[1, 2, 4], n_boot=20, alpha=0.05, boot_seed=0)
    assert metrics["pass_at_k"][1] == pytest.approx((pass_at_k(4, 2, 1) + 0) / 2)
    assert metrics["pass_at_k"][4] == pytest.approx(0.5)


def test_missing_or_extra_samples_are_an_error_naming_the_problem():
    rs = rows(1)
    reqs = build_requests(FakeTokenizer(), rs, n=3, temperature=1, top_p=1, max_new_tokens=8, seed=0)
    short = [SimpleNamespace(outputs=[completion(0, "x"), completion(1, "y")])]
    with pytest.raises(ValueError, match="problem p0"):
        parse_outputs(short, reqs, rs, task="math_verify")
    with pytest.raises(ValueError, match="2 outputs for 1 requests"):
        parse_outputs(short * 2, reqs, rs, task="math_verify")


def test_vllm_sampling_params_accept_our_request_settings():
    vllm = pytest.importorskip("vllm", reason="vLLM is not installed here: `make test-vllm` runs this")
    req = build_requests(FakeTokenizer(), rows(1), n=4, temperature=0.6, top_p=0.95, max_new_tokens=8, seed=0)[0]
    params = vllm.SamplingParams(**req.sampling)
    assert params.n == 4 and params.seed == req.sampling["seed"]
