"""Config validation: the schema, its defaults, and the cross-reference checks."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from alignrl.workflow.config import ConfigError, finalize_config, load_config, load_schema, training_settings

REPO = Path(__file__).resolve().parent.parent


def smoke() -> dict:
    return yaml.safe_load((REPO / "configs/smoke.yaml").read_text())


def test_shipped_configs_are_valid():
    # the model-selection configs too: docs/model-selection.md tells readers to rerun them
    selection = sorted(p.relative_to(REPO) for p in (REPO / "configs/selection").glob("*.yaml"))
    paths = ["config.yaml", "configs/smoke.yaml", *selection]
    assert len(paths) >= 4
    for path in paths:
        cfg = load_config(REPO / path)
        assert cfg["claims"], path


def test_every_schema_key_has_description_and_default():
    def walk(node, where):
        props = node.get("properties", {})
        for key, sub in props.items():
            assert "description" in sub, f"{where}.{key} lacks a description"
            assert "default" in sub, f"{where}.{key} lacks a default"
            walk(sub, f"{where}.{key}")
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            walk(extra, f"{where}.*")

    walk(load_schema(), "config")


def test_defaults_are_filled_inside_map_entries():
    cfg = smoke()
    del cfg["models"]["A"]["size"]["tie_word_embeddings"]
    del cfg["claims"]["ground_truth"]["description"]
    del cfg["claims"]["ground_truth"]["entropy_coef"]
    finalize_config(cfg)
    assert cfg["models"]["A"]["size"]["tie_word_embeddings"] is True
    assert cfg["claims"]["ground_truth"]["entropy_coef"] == 0.0


def test_claim_overrides_shared_training_settings():
    cfg = smoke()
    cfg["claims"]["ground_truth"]["training"] = {"lr": 0.5}
    finalize_config(cfg)
    settings = training_settings(cfg, "ground_truth")
    assert settings["lr"] == 0.5
    assert settings["steps"] == cfg["training"]["steps"]
    assert settings["reward"] == "ground_truth"


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda c: c.update(unknown_key=1), "unknown_key"),
        (lambda c: c["evaluation"].update(n=-1), "evaluation.n"),
        (lambda c: c["evaluation"].update(ks=[1, 8]), "evaluation.ks"),
        (lambda c: c["claims"]["ground_truth"].update(reward="nope"), "claims.ground_truth.reward"),
        (lambda c: c["claims"]["ground_truth"].update(advantage="nope"), "claims.ground_truth.advantage"),
        (lambda c: c["tables"]["table2"].update(claims=["missing"]), "tables.table2.claims"),
        (lambda c: c["tasks"]["math"].update(generator="chess"), "tasks.math.generator"),
        (lambda c: c["models"]["A"].update(arch="gpt9"), "models.A.arch"),
        (lambda c: c["models"]["A"]["corpus"]["task_fractions"].update(poetry=0.1),
         "models.A.corpus.task_fractions.poetry"),
        (lambda c: c["models"]["A"]["corpus"].update(subskill_fraction=0.9), "models.A.corpus"),
        (lambda c: c["models"]["A"]["corpus"].update(answer_styles={"requested": 0.5, "sentence": 0.4}),
         "models.A.corpus.answer_styles"),
        (lambda c: c["models"]["A"]["corpus"].update(answer_styles={"requested": 0.5, "emoji": 0.5}),
         "models.A.corpus.answer_styles"),
        (lambda c: c["models"]["A"]["corpus"].update(solution_styles={"poetry": {"careful": 1.0}}),
         "models.A.corpus.solution_styles.poetry"),
        (lambda c: c["models"]["A"]["corpus"].update(
            solution_styles={next(iter(c["models"]["A"]["corpus"]["task_fractions"])): {"careful": 0.2}}),
         "models.A.corpus.solution_styles."),
        (lambda c: c["models"]["A"]["corpus"].update(shortcut_guess={"poetry": 1.0}),
         "models.A.corpus.shortcut_guess.poetry"),
        (lambda c: c["models"]["A"]["corpus"].update(shortcut_guess={"logic": 1.5}),
         "models.A.corpus.shortcut_guess"),
        (lambda c: c["models"]["A"]["corpus"].update(  # guesses, but no shortcut to guess in
            solution_styles={"logic": {"careful": 1.0}}, shortcut_guess={"logic": 1.0}),
         "models.A.corpus.shortcut_guess.logic"),
        (lambda c: c["alignment"].update(k=3), "alignment.k"),
        (lambda c: c["training"].update(steps="ten"), "training.steps"),
        (lambda c: c.update(seeds=[]), "seeds"),
        (lambda c: c["evaluation"].update(temperature=-1.0), "evaluation.temperature"),
        (lambda c: c["evaluation"].update(top_p=1.5), "evaluation.top_p"),
        (lambda c: c["alignment"].update(weak_at_most=0.95), "alignment.weak_at_most"),
        (lambda c: c["alignment"].update(ceiling_pass_at_k=0.8), "alignment.ceiling_pass_at_k"),
        (lambda c: c["alignment"].update(ceiling_pass_at_1=1.5), "alignment.ceiling_pass_at_1"),
        (lambda c: (c["evaluation"].update(ks=[2, 4]), c.update(verdict={"k": 2})), "must contain 1"),
        (lambda c: c["training"].update(samples_per_prompt=1), "samples_per_prompt"),
        (lambda c: c["training"].update(clip_low=1.5), "training.clip_low"),
        (lambda c: c["claims"]["ground_truth"].update(seeds=[]), "claims.ground_truth.seeds"),
        (lambda c: c["claims"]["ground_truth"].update(expectation="always"), "claims.ground_truth.expectation"),
        (lambda c: c["claims"]["ground_truth"]["data"].update(selection="half")
         if "data" in c["claims"]["ground_truth"]
         else c["claims"]["ground_truth"].update(data={"selection": "half"}), "claims.ground_truth.data.selection"),
        (lambda c: c["claims"]["variance_history"]["data"].update(pool_size=0),
         "claims.variance_history.data.pool_size"),
        (lambda c: c["claims"]["one_shot_selected"]["data"].update(history_claim="nobody"),
         "claims.one_shot_selected.data.history_claim"),
        (lambda c: c["claims"]["variance_history"]["data"].update(selection="one_shot"),
         "data.history_claim"),
        (lambda c: c["claims"].update(quiet={"reward": "none", "advantage": "grpo", "entropy_coef": 1.0,
                                            "training": {"dynamic_sampling": True}}),
         "claims.quiet.training.dynamic_sampling"),
        (lambda c: c["figure1"].update(Extra="unknown_claim"), "figure1.Extra"),
        (lambda c: c["sensitivity"].update(claims=["unknown_claim"]), "sensitivity.claims"),
        (lambda c: c["models"]["A"]["size"].update(hidden_size=-8), "models.A.size.hidden_size"),
        (lambda c: c["tasks"]["math"].update(benchmarks=[]), "tasks.math.benchmarks"),
    ],
)
def test_bad_config_names_the_key(mutate, key):
    cfg = copy.deepcopy(smoke())
    mutate(cfg)
    with pytest.raises(ConfigError) as err:
        finalize_config(cfg)
    assert key in str(err.value)


def test_load_config_names_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("seeds: [0\n")
    with pytest.raises(ConfigError, match="c.yaml"):
        load_config(path)


@pytest.mark.parametrize(
    "options, needle",
    [
        (0.05, "config key 'tasks.math.generator_options': 0.05 is not of type 'object'"),
        ({"hard_share": 1.5}, "config key 'tasks.math.generator_options.hard_share': 1.5 is greater than or equal "
                              "to the maximum of 1"),
        ({"hard_share": "high"}, "config key 'tasks.math.generator_options.hard_share': 'high' is not of type"),
        ({"hard_shar": 0.1}, "unknown key 'hard_shar' (did you mean 'hard_share'?)"),
    ],
)
def test_schema_refuses_bad_generator_options(options, needle):
    cfg = smoke()
    cfg["tasks"]["math"]["generator_options"] = options
    with pytest.raises(ConfigError) as err:
        finalize_config(cfg)
    assert needle in str(err.value)


def test_generator_options_are_checked_by_the_generator():
    cfg = smoke()
    cfg["tasks"]["logic"]["generator_options"] = {"hard_share": 0.1}
    with pytest.raises(ConfigError, match=r"tasks\.logic\.generator_options.*task 'logic'.*\['hard_share'\]"):
        finalize_config(cfg)
    paper = yaml.safe_load((REPO / "configs/paper.yaml").read_text())
    paper["tasks"]["math"]["generator_options"] = {"hard_share": 0.1}
    with pytest.raises(ConfigError, match=r"tasks\.math\.generator_options.*hub task"):
        finalize_config(paper)


def test_schema_default_of_hard_share_is_the_generators():
    from alignrl.claims.tasks import get_task

    task_schema = load_schema()["properties"]["tasks"]["additionalProperties"]["properties"]
    assert task_schema["generator_options"]["default"] == {}
    assert task_schema["generator_options"]["properties"]["hard_share"]["default"] == \
        get_task("math").options["hard_share"] == 0.03
    cfg = load_config(REPO / "config.yaml")
    assert cfg["tasks"]["math"]["generator_options"] == {"hard_share": 0.03}
    assert cfg["tasks"]["logic"]["generator_options"] == {}  # no option is filled in for another generator


def test_jobs_get_generator_options_only_where_they_differ_from_the_defaults():
    """At the defaults the params of the sampling jobs are those from before the option (so their outputs stay
    current); a changed option reaches the data, corpus and contamination jobs (so they rerun)."""
    from alignrl.workflow.config import all_models
    from alignrl.workflow.task_options import pretrain_settings, sampler, sampler_task, task_settings

    cfg = load_config(REPO / "config.yaml")
    models = all_models(cfg)
    assert "generator_options" not in task_settings(cfg, "math")
    assert sampler(cfg, "math") == "math" and sampler(cfg, "logic") == "logic"
    assert all(pretrain_settings(cfg, m) is m for m in models.values())
    assert sampler_task(task_settings(cfg, "math")).options["hard_share"] == 0.03

    cfg = load_config(REPO / "config.yaml")
    cfg["tasks"]["math"]["generator_options"]["hard_share"] = 0.05
    settings = task_settings(cfg, "math")
    assert settings["generator_options"] == {"hard_share": 0.05}
    assert sampler_task(settings).options["hard_share"] == 0.05
    spec = sampler(cfg, "math")
    assert spec == {"generator": "math", "generator_options": {"hard_share": 0.05}}
    assert sampler_task(spec).options["hard_share"] == 0.05
    assert sampler(cfg, "logic") == "logic" and "generator_options" not in task_settings(cfg, "logic")
    for name, model in all_models(cfg).items():  # every corpus with math: A, B, the dial's levels, the control
        job = pretrain_settings(cfg, model)
        if model["corpus"]["task_fractions"]["math"] == 0:  # the dial's lowest level draws no math problem
            assert job is model, name
            continue
        assert job["corpus"]["task_options"] == {"math": {"hard_share": 0.05}}, name
        assert "task_options" not in model["corpus"], "the model's own config is left alone"
