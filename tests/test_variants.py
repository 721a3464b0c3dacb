"""Each claim as its source paper defines it, and the mechanism controls (issue 16 items 5 and 6).

Rewards (random_ungated, incorrect_majority), the loss with clipping off, the new trainer keys' validation,
the config's variant claims and the mechanisms table, built by the claims tables' builder.
"""
from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import torch
import yaml
from test_reporting import ALIGN, BOOT, KS, write_run

from alignrl.analysis import registry
from alignrl.backends.verl import check_claim
from alignrl.claims import rewards
from alignrl.claims.answer import format_response
from alignrl.claims.objectives import compute_advantages, policy_loss
from alignrl.claims.tasks import get_task
from alignrl.core.errors import ConfigError
from alignrl.native.grpo import TrainConfig
from alignrl.workflow.config import finalize_config, load_config, training_settings
from alignrl.workflow.plan import report_plan

REPO = Path(__file__).resolve().parent.parent
MATH = get_task("math")


def good(answer: str) -> str:
    return format_response("2 + 5 = 7", answer)


def bad(answer: str) -> str:
    return f"<answer>\\boxed{{{answer}}}</answer>"  # no think block: badly formatted, answer extractable


def scored(name: str, responses: list[str], gt: str = "7", **kw) -> list[float]:
    return rewards.compute_rewards(name, rewards.RewardGroup(responses, gt, MATH, **kw)).rewards


# ----------------------------------------------------------------------------- rewards


def test_random_ungated_pays_badly_formatted_answers_with_the_gated_coin():
    n = 64
    coins = [float(rewards.random_draw(3, 11, i)) for i in range(n)]
    assert 0 < sum(coins) < n
    assert scored("random_ungated", [bad("7")] * n, seed=3, group_id=11) == coins
    assert scored("random", [bad("7")] * n, seed=3, group_id=11) == [0.0] * n
    # on well-formatted answers the two claims draw the same coin: only the format gate differs
    assert scored("random_ungated", [good("1")] * n, seed=3, group_id=11) == coins
    assert scored("random", [good("1")] * n, seed=3, group_id=11) == coins
    assert "random_ungated" not in rewards.FORMAT_GATED and "random" in rewards.FORMAT_GATED


def test_incorrect_majority_pays_only_the_wrong_majority_label():
    # majority 3 (wrong; truth 7): the well-formatted 3s are paid, the right 7 and the badly formatted 3 are not
    responses = [good("3"), good("3"), good("7"), bad("3"), good("4")]
    assert scored("incorrect_majority", responses) == [1.0, 1.0, 0.0, 0.0, 0.0]
    # majority 7 (right): nothing is paid, not even the wrong minority answers
    assert scored("incorrect_majority", [good("7"), good("7"), good("3"), good("4")]) == [0.0] * 4
    # no answer anywhere: nothing to vote on
    assert scored("incorrect_majority", ["<think>x</think><answer>none</answer>"] * 3) == [0.0] * 3
    # today's incorrect pays every wrong well-formatted answer, majority or not
    assert scored("incorrect", [good("7"), good("7"), good("3"), good("4")]) == [0.0, 0.0, 1.0, 1.0]
    assert {"incorrect_majority", "majority_vote"} <= rewards.VOTING and "incorrect" not in rewards.VOTING


def test_incorrect_majority_never_pays_a_correct_answer_randomised():
    import random

    rng = random.Random(0)
    for _ in range(200):
        answers = [str(rng.choice([3, 7, 7, 4])) for _ in range(rng.randint(1, 8))]
        paid = scored("incorrect_majority", [good(a) for a in answers])
        assert all(p == 0.0 for a, p in zip(answers, paid) if a == "7")
        if any(paid):  # whatever is paid is one answer, and the group's most common one
            label = {a for a, p in zip(answers, paid) if p}
            assert len(label) == 1 and answers.count(label.pop()) == max(answers.count(a) for a in set(answers))


def test_nsr_zhu_advantage_is_flat_minus_one_on_wrong_and_zero_on_right():
    correct = torch.tensor([True, False, False, True])
    adv = compute_advantages("reinforce_nsr", torch.tensor([1.0, 0.0, 0.0, 1.0]), correct)
    assert adv.tolist() == [0.0, -1.0, -1.0, 0.0]
    # an all-wrong group (dropped by dynamic sampling) still gets -1 everywhere: no group normalisation
    assert compute_advantages("reinforce_nsr", torch.zeros(3), torch.zeros(3, dtype=torch.bool)).tolist() == [-1.0] * 3


# ----------------------------------------------------------------------------- clipping off


@pytest.mark.parametrize("adv, ratio", [(1.0, 3.0), (1.0, 1.5), (-1.0, 0.3), (-1.0, 20.0)])
def test_clipping_off_gives_gradient_far_outside_the_band(adv, ratio):
    """Ratios outside [0.8, 1.28] (and past the dual clip 10 for A < 0) get zero gradient when clipped,
    and the plain -A x ratio gradient with clipping off."""
    def grad(clip: bool) -> tuple[float, dict]:
        logp = torch.log(torch.tensor([[ratio]])).requires_grad_(True)
        loss, stats = policy_loss(logp, torch.zeros(1, 1), torch.tensor([adv]), torch.ones(1, 1, dtype=torch.bool),
                                  clip_low=0.2, clip_high=0.28, dual_clip=10.0, clip=clip)
        loss.backward()
        return float(logp.grad), stats, float(loss.detach())

    clipped, stats_on, _ = grad(True)
    assert clipped == 0.0 and stats_on["clip_fraction"] + stats_on["dual_clip_fraction"] > 0
    free, stats_off, loss = grad(False)
    assert free == pytest.approx(-adv * ratio, rel=1e-6) and loss == pytest.approx(-adv * ratio, rel=1e-6)
    assert stats_off["clip_fraction"] == 0.0 and stats_off["dual_clip_fraction"] == 0.0


def test_clipping_off_equals_clipped_loss_inside_the_band():
    logp = torch.log(torch.tensor([[0.9, 1.0, 1.2]]))
    args = (logp, torch.zeros(1, 3), torch.tensor([0.7]), torch.ones(1, 3, dtype=torch.bool))
    assert policy_loss(*args, clip=False)[0].item() == pytest.approx(policy_loss(*args)[0].item(), rel=1e-7)


# ----------------------------------------------------------------------------- trainer settings


@pytest.mark.parametrize("over, key", [
    ({"vote_samples": 4, "samples_per_prompt": 8, "reward": "majority_vote"}, "vote_samples"),
    ({"vote_samples": 16, "reward": "ground_truth"}, "vote_samples"),
    ({"vote_samples": True, "reward": "majority_vote"}, "vote_samples"),
    ({"entropy_bonus": -0.1}, "entropy_bonus"),
    ({"entropy_bonus": 0.1, "entropy_coef": 0.1}, "entropy_bonus"),
    ({"clipping": "no"}, "clipping"),
])
def test_train_config_refuses_bad_new_settings_naming_the_key(over, key):
    with pytest.raises(ValueError, match=f"'{key}'"):
        TrainConfig(**over)
    TrainConfig(vote_samples=16, samples_per_prompt=8, reward="incorrect_majority", entropy_bonus=0.001,
                clipping=False)


def test_verl_backend_refuses_what_it_cannot_run():
    base = {"advantage": "grpo", "reward": "random", "advantage_kwargs": {}, "fill_batch": "tile",
            "dynamic_sampling": True}
    check_claim("c", base)
    with pytest.raises(ConfigError, match=r"claims\.c\.training\.clipping"):
        check_claim("c", {**base, "clipping": False})
    with pytest.raises(ConfigError, match=r"claims\.c\.training\.vote_samples"):
        check_claim("c", {**base, "reward": "majority_vote", "vote_samples": 32})


# ----------------------------------------------------------------------------- config


def smoke() -> dict:
    return yaml.safe_load((REPO / "configs/smoke.yaml").read_text())


def _claim(**kw) -> dict:
    return {"reward": "random", "advantage": "grpo", "entropy_coef": 0.01, **kw}


@pytest.mark.parametrize("edit, key", [
    (lambda c: c["claims"].update(v=_claim(reward="majority_vote", training={"vote_samples": 2})),
     "claims.v.training.vote_samples"),
    (lambda c: c["claims"].update(v=_claim(training={"vote_samples": 8})), "claims.v.training.vote_samples"),
    (lambda c: c["claims"].update(v=_claim(reward="majority_vote", training={"vote_samples": "many"})),
     "claims.v.training.vote_samples"),
    (lambda c: c["training"].update(vote_samples=8), "training.vote_samples"),
    (lambda c: c["claims"].update(v=_claim(training={"clipping": "sometimes"})), "claims.v.training.clipping"),
    (lambda c: c["claims"].update(v=_claim(entropy_bonus=-1)), "claims.v.entropy_bonus"),
    (lambda c: c["claims"].update(v=_claim(entropy_bonus=0.001)), "claims.v.entropy_bonus"),  # with entropy_coef
    (lambda c: c.update(mechanisms={"claims": ["random", "nope"]}), "mechanisms.claims"),
    (lambda c: c.update(mechanisms={"claims": ["random", "random"]}), "mechanisms.claims"),
    (lambda c: c.update(mechanisms={"claims": ["random"], "seeds": [0, 0]}), "mechanisms.seeds"),
    (lambda c: c.update(mechanisms={"claims": ["random"], "seeds": []}), "mechanisms.seeds"),
    (lambda c: c.update(mechanisms={"claims": ["random"], "colour": "red"}), "mechanisms"),
    (lambda c: c["tables"].update(mechanisms={"claims": ["random"]}), "tables.mechanisms"),
])
def test_bad_variant_config_names_the_key(edit, key):
    config = smoke()
    edit(config)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        finalize_config(config)


def test_new_settings_appear_only_where_set_so_existing_runs_stay_current():
    config = smoke()
    config["claims"]["noclip"] = _claim(training={"clipping": False})
    config["claims"]["ttrl"] = _claim(reward="majority_vote", training={"vote_samples": 8})
    config["claims"]["bonus"] = _claim(entropy_coef=0.0, entropy_bonus=0.001)
    cfg = finalize_config(config)
    for name in ("ground_truth", "random", "nsr", "one_shot_selected"):
        assert not {"clipping", "vote_samples", "entropy_bonus"} & set(training_settings(cfg, name)), name
    assert training_settings(cfg, "noclip")["clipping"] is False
    assert training_settings(cfg, "ttrl")["vote_samples"] == 8
    assert training_settings(cfg, "bonus")["entropy_bonus"] == 0.001
    for name in ("noclip", "ttrl", "bonus"):  # every claim's settings build a trainer config
        TrainConfig.from_dict(training_settings(cfg, name))


def test_default_config_defines_each_variant_as_its_paper_does():
    cfg = load_config(REPO / "config.yaml")
    tabled = {c for t in cfg["tables"].values() for c in t["claims"]}
    variants = {"random_ungated", "incorrect_majority", "one_shot_wang", "majority_vote_ttrl", "nsr_zhu",
                "format_no_tile"}
    assert not variants & tabled  # the tables keep the official code's definitions
    s = {c: training_settings(cfg, c) for c in variants | set(cfg["mechanisms"]["claims"])}
    assert s["random_ungated"]["reward"] == "random_ungated"
    assert s["incorrect_majority"]["reward"] == "incorrect_majority"
    wang = s["one_shot_wang"]
    assert (wang["mini_batches_per_step"], wang["ppo_epochs"], wang["temperature"]) == (1, 1, 0.6)
    assert wang["entropy_bonus"] == 0.001
    assert not wang["dynamic_sampling"] and wang["entropy_coef"] == 0 and wang["steps"] > cfg["training"]["steps"]
    assert cfg["claims"]["one_shot_wang"]["data"]["selection"] == "one_shot"
    ttrl = s["majority_vote_ttrl"]
    assert (ttrl["reward"], ttrl["vote_samples"], ttrl["samples_per_prompt"]) == ("majority_vote", 32, 16)
    assert (s["nsr_zhu"]["advantage"], s["nsr_zhu"]["dynamic_sampling"]) == ("reinforce_nsr", False)
    assert (s["format_no_tile"]["reward"], s["format_no_tile"]["fill_batch"]) == ("format", "none")
    # the mechanism grid: gated and ungated random, each clipped asymmetric, symmetric and unclipped
    grid = {(s[c]["reward"], s[c].get("clipping", True), s[c]["clip_high"])
            for c in cfg["mechanisms"]["claims"] if s[c]["reward"].startswith("random")}
    assert grid == {(r, clip, high) for r in ("random", "random_ungated")
                    for clip, high in ((True, 0.28), (True, 0.2), (False, 0.28))}
    assert {"format", "entropy"} <= set(cfg["mechanisms"]["claims"])
    for name in s:
        TrainConfig.from_dict(s[name])


def test_mechanisms_plan_covers_every_cell_with_its_seeds():
    config = smoke()
    config["claims"]["noclip"] = _claim(training={"clipping": False})
    config["mechanisms"] = {"claims": ["random", "noclip"]}
    plan = report_plan(finalize_config(copy.deepcopy(config)))
    inputs, params = plan[registry.MECHANISMS]
    runs = [p for p in inputs if "/eval/" in p]
    assert len(runs) == 2 * 2 * 2 and all("/seed0/" in p for p in runs)  # claims x models x tasks, global seeds
    assert params["table"]["claims"] == ["random", "noclip"] and params["name"] == registry.MECHANISMS
    config["mechanisms"]["seeds"] = [4, 5]
    inputs, _ = report_plan(finalize_config(config))[registry.MECHANISMS]
    assert sorted({p.split("/")[5] for p in inputs if "/eval/" in p}) == ["seed4", "seed5"]
    assert registry.MECHANISMS not in report_plan(finalize_config(smoke()))  # no claims: no target


# ----------------------------------------------------------------------------- the mechanisms table


def test_mechanisms_table_is_the_claims_table_builder_with_the_same_columns(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files = [write_run(Path("."), "results/baseline/A/math/test", [[0, 0, 1, 0]] * 20)]
    for claim, row in (("random", [1, 1, 1, 0]), ("random_noclip", [0, 0, 0, 0])):
        for seed in (0, 1):
            files.append(write_run(Path("."), f"results/eval/{claim}/A/math/seed{seed}/test", [row] * 20))
    common = {"evaluation": {"ks": KS, "bootstrap": BOOT}, "alignment": ALIGN, "verdict": {"k": 1, "min_gain": 0.02}}
    table = {"title": "Mechanism controls", "claims": ["random", "random_noclip"]}
    mech = registry.build(registry.MECHANISMS, files, {**common, "table": table, "name": registry.MECHANISMS})
    claims = registry.build("table2", files, {**common, "table": {**table, "title": "T2"}, "name": "table2"})
    df = mech.frames["csv"]
    assert list(df.columns) == list(claims.frames["csv"].columns)
    assert df.equals(claims.frames["csv"])
    assert list(df.claim) == ["base", "random", "random_noclip"] and list(df.n_seeds[1:]) == [2, 2]
    assert list(df.verdict[1:]) == ["holds", "fails"]
    assert math.isclose(df["gain@1"][1], 0.5) and math.isclose(df["gain@1"][2], -0.25)
    assert mech.markdown.startswith("## Mechanism controls")
    # a run the table does not list is refused, naming the table
    extra = write_run(Path("."), "results/eval/format/A/math/seed0/test", [[1, 1, 1, 1]] * 20)
    with pytest.raises(ValueError, match="format.*mechanisms"):
        registry.build(registry.MECHANISMS, files + [extra], {**common, "table": table, "name": registry.MECHANISMS})
    assert registry.output_paths(registry.MECHANISMS)["csv"] == Path("results/mechanisms.csv")
