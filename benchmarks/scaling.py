"""How time grows with model size, samples per problem and number of claims (three points each).

* model size: hidden 64 / 128 / 256 (4 layers, 4 heads, MLP 3x hidden; 128 is the embedded default):
  sampling 16 prompts x 16 samples x 64 tokens, and one RL step (16 prompts x 8 samples, one update);
* samples per problem: n = 4 / 16 / 64 on 16 prompts, 64 tokens, the default model (sampling time,
  which is what n multiplies in evaluation and in every RL step);
* number of claims: the simulated 2-core wall time of ``results/table2.csv``-style runs with 1, 3 and 6
  claims (x 2 models x 2 tasks, one seed), from a results tree's per-job times (``benchmarks.e2e``),
  with the measured job speed-ups applied when given.
"""

from __future__ import annotations

import argparse
import time

from benchmarks import common

HIDDENS = (64, 128, 256)
NS = (4, 16, 64)


def _size(hidden: int) -> dict:
    return {**common.size_from_config(), "hidden_size": hidden, "intermediate_size": 3 * hidden}


def _child(what: str, hidden: int, n: int) -> None:
    common.set_threads(1)
    import torch
    from transformers import AutoModelForCausalLM

    from alignrl.native.sampling import sample
    from alignrl.native.tokenizer import load_tokenizer

    path = common.model_dir(_size(hidden))
    if what == "sample":
        tok = load_tokenizer(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        ids = common.prompt_ids(tok, common.prompt_texts(16))

        def run(seed):
            sample(model, ids, n=n, max_new_tokens=64, temperature=1.0, top_p=1.0, eos_id=None,
                   pad_id=tok.pad_token_id, generator=torch.Generator().manual_seed(seed), batch_size=256)

        run(0)
        times = []
        for r in range(2):
            t0 = time.process_time()
            run(r + 1)
            times.append(time.process_time() - t0)
        common.emit({"what": what, "hidden": hidden, "n": n, "times": times})
    else:
        from alignrl.claims.rows import problems_to_rows
        from alignrl.claims.tasks import get_task, make_splits
        from alignrl.native.grpo import TrainConfig, Trainer, row_parts

        task = get_task("math")
        rows = problems_to_rows(make_splits(task, {"train": 64}, seed=5)["train"], "math", task.ability, "train",
                                "{question}")
        parts = [row_parts(r, i, "math", "train") for i, r in enumerate(rows)]
        cfg = TrainConfig(steps=3, prompts_per_step=16, samples_per_prompt=8, mini_batches_per_step=1,
                          lr=3e-5, warmup_steps=0, dynamic_sampling=False, reward="entropy", max_new_tokens=64,
                          val_every=0, generation_batch_size=128)
        trainer = Trainer(path, task, parts, [], cfg, seed=0)
        trainer.seed_fresh()
        trainer.eos_id = None
        stamps = []
        for step in range(1, 4):
            trainer.step(step, lambda s: None)
            stamps.append(time.process_time())
        common.emit({"what": what, "hidden": hidden, "times": [b - a for a, b in zip(stamps, stamps[1:])]})


def measure(tree=None, speedup: dict | None = None, log=print) -> dict:
    out: dict = {"model_size": [], "samples_per_problem": [], "claims": []}
    for hidden in HIDDENS:
        common.model_dir(_size(hidden))
        s = common.run_child("benchmarks.scaling", ["--what", "sample", "--hidden", str(hidden), "--n", "16"])
        r = common.run_child("benchmarks.scaling", ["--what", "rl", "--hidden", str(hidden), "--n", "8"])
        row = {"hidden": hidden, "params_m": _params(hidden), "sample_s": common.median(s["times"]),
               "rl_step_s": common.median(r["times"]), "peak_rss_mb": max(s["peak_rss_mb"], r["peak_rss_mb"])}
        out["model_size"].append(row)
        log(f"  size {row}")
    for n in NS:
        s = common.run_child("benchmarks.scaling", ["--what", "sample", "--hidden", "128", "--n", str(n)])
        row = {"n": n, "rows": 16 * n, "sample_s": common.median(s["times"]), "peak_rss_mb": s["peak_rss_mb"]}
        out["samples_per_problem"].append(row)
        log(f"  n {row}")
    if tree is not None:
        out["claims"] = claims_curve(tree, speedup)
        log(f"  claims {out['claims']}")
    return out


def claims_curve(tree, speedup: dict | None) -> list[dict]:
    """Simulated 2-core wall of the table-2 jobs with the first 1, 3 and 6 of its claims."""
    from benchmarks import e2e

    claims = ["ground_truth", "random", "incorrect", "format", "majority_vote", "entropy"]
    out = []
    for k in (1, 3, 6):
        summ = e2e.summarize(tree, 2, speedup, set(claims[:k]))
        out.append({"claims": k, "runs": 4 * k, "wall_s_measured_jobs": summ["simulated_wall_s"],
                    "wall_s_with_speedup": summ.get("simulated_wall_s_with_speedup")})
    return out


def _params(hidden: int) -> float:
    size = _size(hidden)
    layer = 4 * hidden * hidden + 3 * hidden * size["intermediate_size"]
    return round((size["num_layers"] * layer + 225 * hidden) / 1e6, 3)


def plot(data: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
    ms = data["model_size"]
    ax[0].plot([m["params_m"] for m in ms], [m["sample_s"] for m in ms], "o-", label="sample 256 x 64 tokens")
    ax[0].plot([m["params_m"] for m in ms], [m["rl_step_s"] for m in ms], "s-", label="one RL step (128 rows)")
    ax[0].set_xlabel("parameters (M)")
    ax[0].set_ylabel("seconds")
    ax[0].set_xscale("log")
    ax[0].set_yscale("log")
    ax[0].set_title("model size (hidden 64 / 128 / 256)")
    ax[0].legend(fontsize=8)
    ns = data["samples_per_problem"]
    ax[1].plot([m["n"] for m in ns], [m["sample_s"] for m in ns], "o-")
    ax[1].set_xlabel("samples per problem (16 problems)")
    ax[1].set_ylabel("sampling seconds")
    ax[1].set_xscale("log")
    ax[1].set_yscale("log")
    ax[1].set_title("samples per problem")
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    for a, xs in ((ax[0], [m["params_m"] for m in ms]), (ax[1], [m["n"] for m in ns])):
        a.set_xticks(xs)
        a.set_xticklabels([f"{x:g}" for x in xs])
        a.xaxis.set_minor_formatter(NullFormatter())
        a.yaxis.set_major_formatter(ScalarFormatter())
        a.yaxis.set_minor_formatter(NullFormatter())
    cs = data["claims"]
    if cs:
        ax[2].plot([c["claims"] for c in cs], [c["wall_s_measured_jobs"] / 60 for c in cs], "o-",
                   label="job times of the measured run")
        if cs[0].get("wall_s_with_speedup"):
            ax[2].plot([c["claims"] for c in cs], [c["wall_s_with_speedup"] / 60 for c in cs], "s-",
                       label="with this tree's speed-ups")
        ax[2].axhline(15, color="grey", ls=":", label="15 min")
        ax[2].legend(fontsize=8)
    ax[2].set_xlabel("claims (x 2 models x 2 tasks)")
    ax[2].set_ylabel("simulated 2-core wall (min)")
    ax[2].set_title("number of claims")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--child", action="store_true")
    p.add_argument("--what", choices=("sample", "rl"))
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--n", type=int, default=16)
    a = p.parse_args()
    if a.child:
        _child(a.what, a.hidden, a.n)
    else:
        import json

        print(json.dumps(measure(), indent=2))


if __name__ == "__main__":
    main()
