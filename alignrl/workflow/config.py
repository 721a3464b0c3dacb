"""Configuration: schema defaults, validation and the checks a JSON schema cannot express.

Snakemake validates the config against `schemas/config.schema.yaml` at parse time; `finalize_config`
then fills the defaults of map entries (tasks, models, claims), which the schema's own defaulting does
not reach, and checks cross references (claims name known rewards, tables name known claims, k <= n).
Every error names the offending key and says what is allowed.
"""
from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import yaml

from alignrl.core.errors import ConfigError
from alignrl.workflow import config_checks

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"


def load_schema(path: Path = SCHEMA_PATH) -> dict:
    with open(path) as fh:
        return yaml.safe_load(fh)


def _fill_defaults(value: Any, schema: dict) -> Any:
    """Recursively add schema defaults, including inside maps described by additionalProperties."""
    if not isinstance(schema, dict) or not isinstance(value, dict) or schema.get("x-overrides-only"):
        return value
    props = schema.get("properties", {})
    for key, sub in props.items():
        if key not in value and "default" in sub:
            value[key] = copy.deepcopy(sub["default"])
        if key in value:
            value[key] = _fill_defaults(value[key], sub)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key in list(value):
            if key not in props:
                value[key] = _fill_defaults(value[key], extra)
    return value


def validate_against_schema(config: dict, schema: dict | None = None) -> None:
    import jsonschema

    schema = schema or load_schema()
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = ".".join(str(p) for p in err.absolute_path) or "<top level>"
        raise ConfigError(f"config key '{where}': {err.message}")


#: Trainer settings added after runs had been recorded, with their defaults: a claim's settings hold one only
#: where it differs from its default, so the settings (Snakemake params, the audited run record) of every
#: claim that leaves them alone are unchanged and its runs stay current.
LATER_SETTINGS = {"clipping": True, "vote_samples": None, "entropy_bonus": 0.0}


def training_settings(config: dict, claim: str) -> dict:
    """The trainer settings of one claim: the shared block, then the claim's own overrides."""
    claim_cfg = config["claims"][claim]
    settings = dict(config["training"])
    settings.update(claim_cfg.get("training", {}))
    settings["reward"] = claim_cfg["reward"]
    settings["advantage"] = claim_cfg["advantage"]
    settings["advantage_kwargs"] = dict(claim_cfg.get("advantage_kwargs", {}))
    settings["entropy_coef"] = float(claim_cfg.get("entropy_coef", 0.0))
    settings["entropy_bonus"] = float(claim_cfg.get("entropy_bonus", 0.0))
    for key, default in LATER_SETTINGS.items():
        if key in settings and settings[key] == default:
            del settings[key]
    return settings


def claim_seeds(config: dict, claim: str) -> list[int]:
    """The RL seeds of one claim: its own ``seeds`` key, else the top-level ``seeds``."""
    own = config["claims"][claim].get("seeds")
    return [int(s) for s in (own if own is not None else config["seeds"])]


def mechanism_seeds(config: dict, claim: str) -> list[int]:
    """The RL seeds of one claim's runs in results/mechanisms.csv: ``mechanisms.seeds``, else the claim's."""
    own = config["mechanisms"].get("seeds")
    return [int(s) for s in own] if own is not None else claim_seeds(config, claim)


def _setting_key(config: dict, claim: str, key: str) -> str:
    """Where a claim's trainer setting comes from: its own ``training`` overrides, else the shared block."""
    return f"claims.{claim}.training.{key}" if key in config["claims"][claim].get("training", {}) else f"training.{key}"


def _check_variants(config: dict) -> None:
    """The source papers' variants (docs/claims.md): vote counts, entropy bonus, the mechanisms block."""
    from alignrl.claims import rewards

    for name, claim in config["claims"].items():
        settings = training_settings(config, name)
        votes = settings.get("vote_samples")
        if votes is not None:
            key = _setting_key(config, name, "vote_samples")
            if claim["reward"] not in rewards.VOTING:
                raise ConfigError(f"config key '{key}': only a voting reward reads the extra answers; claim '{name}' "
                                  f"has reward '{claim['reward']}' (voting: {sorted(rewards.VOTING)})")
            if votes < settings["samples_per_prompt"]:
                raise ConfigError(f"config key '{key}': {votes} answers voted on is fewer than the "
                                  f"{settings['samples_per_prompt']} trained on (samples_per_prompt); TTRL trains on a "
                                  "subset of the voted answers")
        if claim.get("entropy_bonus", 0) > 0 and claim["entropy_coef"] > 0:
            raise ConfigError(f"config key 'claims.{name}.entropy_bonus': set together with entropy_coef; one "
                              "raises entropy, the other minimises it, so set only one")
    mech = config["mechanisms"]
    config_checks._no_duplicates(mech["claims"], "mechanisms.claims", "claim")
    if mech["seeds"] is not None:
        config_checks._no_duplicates(mech["seeds"], "mechanisms.seeds", "seed")
    for claim in mech["claims"]:
        if claim not in config["claims"]:
            raise ConfigError(f"config key 'mechanisms.claims': unknown claim '{claim}'; "
                              f"known: {sorted(config['claims'])}")
    if "mechanisms" in config["tables"]:
        raise ConfigError("config key 'tables.mechanisms': the name is taken by the mechanisms table "
                          "(results/mechanisms.csv, the `mechanisms:` section); rename the table")


def check_cross_references(config: dict) -> None:
    from alignrl.claims import objectives, rewards

    ev = config["evaluation"]
    for k in ev["ks"]:
        if k > ev["n"]:
            raise ConfigError(
                f"config key 'evaluation.ks': k = {k} is larger than evaluation.n = {ev['n']}; "
                "the unbiased pass@k estimator needs k <= n"
            )
    if config["alignment"]["k"] not in ev["ks"]:
        raise ConfigError(
            f"config key 'alignment.k': {config['alignment']['k']} is not one of evaluation.ks {ev['ks']}"
        )
    if config["alignment"]["weak_at_most"] >= config["alignment"]["strong_at_least"]:
        raise ConfigError("config key 'alignment.weak_at_most' must be below 'alignment.strong_at_least'")
    if config["alignment"]["ceiling_pass_at_k"] <= config["alignment"]["strong_at_least"]:
        raise ConfigError("config key 'alignment.ceiling_pass_at_k' must be above 'alignment.strong_at_least': "
                          "otherwise no strong cell can have headroom")
    if 1 not in ev["ks"]:
        raise ConfigError(f"config key 'evaluation.ks': {ev['ks']} must contain 1, the pass@1 that "
                          "alignment.ceiling_pass_at_1 checks a strong cell's headroom with")
    for name, task in config["tasks"].items():
        _check_task(name, task)
    for name, model in config["models"].items():
        if model["source"] == "hub" and not model.get("hub_id"):
            raise ConfigError(f"config key 'models.{name}.hub_id': a hub model needs its Hugging Face id")
    _check_backends(config)
    for name, model in config["models"].items():
        for task_name in model["corpus"]["task_fractions"]:
            if task_name not in config["tasks"]:
                raise ConfigError(
                    f"config key 'models.{name}.corpus.task_fractions.{task_name}': unknown task; "
                    f"known: {sorted(config['tasks'])}"
                )
        total = sum(model["corpus"]["task_fractions"].values()) + model["corpus"]["subskill_fraction"]
        if total > 1.0 + 1e-9:
            raise ConfigError(
                f"config key 'models.{name}.corpus': task fractions plus subskill_fraction sum to "
                f"{total:.3f}; they must not exceed 1"
            )
        _check_styles(name, model["corpus"])
    for name, claim in config["claims"].items():
        if claim["reward"] not in rewards.REWARDS:
            raise ConfigError(
                f"config key 'claims.{name}.reward': unknown reward '{claim['reward']}'; "
                f"known: {sorted(rewards.REWARDS)}"
            )
        if claim["advantage"] not in objectives.ADVANTAGES:
            raise ConfigError(
                f"config key 'claims.{name}.advantage': unknown estimator '{claim['advantage']}'; "
                f"known: {sorted(objectives.ADVANTAGES)}"
            )
        settings = training_settings(config, name)
        if settings["samples_per_prompt"] < 2 and claim["advantage"].startswith("grpo"):
            raise ConfigError(
                f"config key 'claims.{name}.training.samples_per_prompt': a group-normalised advantage "
                "needs at least 2 samples per prompt"
            )
    for name, claim in config["claims"].items():
        settings = training_settings(config, name)
        if claim["reward"] == "none" and settings["dynamic_sampling"] and claim["entropy_coef"] == 0:
            raise ConfigError(
                f"config key 'claims.{name}': reward 'none' with no entropy_coef trains on nothing"
            )
        if claim["reward"] == "none" and settings["dynamic_sampling"]:
            raise ConfigError(
                f"config key 'claims.{name}.training.dynamic_sampling': reward 'none' gives equal rewards in "
                "every group, so dynamic sampling would drop them all; set it to false"
            )
        data = claim["data"]
        if data["selection"] == "one_shot" and data["one_shot_rule"] == "historical_variance":
            history = config["claims"].get(data["history_claim"])
            if history is None:
                raise ConfigError(
                    f"config key 'claims.{name}.data.history_claim': unknown claim '{data['history_claim']}'; "
                    f"known: {sorted(config['claims'])}"
                )
            if history["data"]["selection"] == "one_shot":
                raise ConfigError(
                    f"config key 'claims.{name}.data.history_claim': '{data['history_claim']}' is itself "
                    "one-shot; the history must come from a pool or full-data run"
                )
    for claim in config["sensitivity"]["claims"]:
        if claim not in config["claims"]:
            raise ConfigError(
                f"config key 'sensitivity.claims': unknown claim '{claim}'; known: {sorted(config['claims'])}"
            )
    for label, claim in config["figure1"].items():
        if claim != "base" and claim not in config["claims"]:
            raise ConfigError(
                f"config key 'figure1.{label}': unknown claim '{claim}'; "
                f"use 'base' or one of {sorted(config['claims'])}"
            )
    for name, table in config["tables"].items():
        for claim in table["claims"]:
            if claim not in config["claims"]:
                raise ConfigError(
                    f"config key 'tables.{name}.claims': unknown claim '{claim}'; "
                    f"known: {sorted(config['claims'])}"
                )


def _check_styles(model_name: str, corpus: dict) -> None:
    """Answer- and solution-style shares each sum to 1, for tasks the corpus has; guesses need shortcuts."""
    key = f"models.{model_name}.corpus"
    answer = corpus.get("answer_styles") or {}
    if answer and abs(sum(answer.values()) - 1.0) > 1e-6:
        raise ConfigError(f"config key '{key}.answer_styles': shares sum to {sum(answer.values()):.4f}, not 1")
    for task_name, shares in (corpus.get("solution_styles") or {}).items():
        if task_name not in corpus["task_fractions"]:
            raise ConfigError(f"config key '{key}.solution_styles.{task_name}': the corpus has no such task; "
                              f"its tasks: {sorted(corpus['task_fractions'])}")
        if abs(sum(shares.values()) - 1.0) > 1e-6:
            raise ConfigError(f"config key '{key}.solution_styles.{task_name}': shares sum to "
                              f"{sum(shares.values()):.4f}, not 1")
    styles = corpus.get("solution_styles") or {}
    for task_name, share in (corpus.get("shortcut_guess") or {}).items():
        if task_name not in corpus["task_fractions"]:
            raise ConfigError(f"config key '{key}.shortcut_guess.{task_name}': the corpus has no such task; "
                              f"its tasks: {sorted(corpus['task_fractions'])}")
        if share > 0 and not (styles.get(task_name) or {}).get("shortcut", 0) > 0:
            raise ConfigError(f"config key '{key}.shortcut_guess.{task_name}': {share} but "
                              f"'{key}.solution_styles.{task_name}' has no shortcut share, so no example would guess")


def _check_task(name: str, task: dict) -> None:
    from alignrl.backends import hub_data
    from alignrl.claims import tasks
    from alignrl.claims.tasks.graders import GRADERS

    if task["source"] == "synthetic":
        if task["generator"] not in tasks.TASKS:
            raise ConfigError(
                f"config key 'tasks.{name}.generator': unknown generator '{task['generator']}'; "
                f"known: {sorted(tasks.TASKS)}"
            )
        try:
            tasks.get_task(task["generator"], task["generator_options"])
        except ValueError as exc:
            raise ConfigError(f"config key 'tasks.{name}.generator_options': {exc}") from None
        return
    if task["generator_options"]:
        raise ConfigError(f"config key 'tasks.{name}.generator_options': a hub task has no generator (its "
                          "generator names a grader), so it takes no generator options")
    if task["generator"] not in GRADERS:
        raise ConfigError(
            f"config key 'tasks.{name}.generator': a hub task names its grader; unknown '{task['generator']}', "
            f"known: {sorted(GRADERS)}"
        )
    datasets = task["datasets"]
    for needed in ["train", *task["benchmarks"]]:
        if needed not in datasets:
            raise ConfigError(f"config key 'tasks.{name}.datasets': no dataset named '{needed}'")
    if "val" in task["benchmarks"] or "train" in task["benchmarks"]:
        raise ConfigError(f"config key 'tasks.{name}.benchmarks': train and val are not benchmarks")
    for ds_name, spec in datasets.items():
        if spec["loader"] not in hub_data.LOADERS:
            raise ConfigError(
                f"config key 'tasks.{name}.datasets.{ds_name}.loader': unknown loader '{spec['loader']}'; "
                f"known: {sorted(hub_data.LOADERS)}"
            )


def _check_backends(config: dict) -> None:
    backend, res = config["backend"], config["resources"]
    if backend["training"] == "verl":
        from alignrl.backends.verl import check_claim

        for name in config["claims"]:
            check_claim(name, training_settings(config, name))
        need = config["verl"]["n_gpus_per_node"]
        if res["train"]["gpus"] < need:
            raise ConfigError(
                f"config key 'resources.train.gpus': {res['train']['gpus']} is fewer than verl.n_gpus_per_node = {need}"
            )
        if config["verl"]["n_gpus_per_node"] % config["verl"]["rollout_tensor_parallel_size"]:
            raise ConfigError(
                "config key 'verl.rollout_tensor_parallel_size': must divide verl.n_gpus_per_node"
            )
    if backend["sampling"] == "vllm":
        from alignrl.backends.vllm import MAX_N

        if config["evaluation"]["n"] > MAX_N:
            raise ConfigError(f"config key 'evaluation.n': the vLLM backend samples at most {MAX_N} per problem")
        need = config["vllm"]["tensor_parallel_size"]
        if res["evaluate"]["gpus"] < need:
            raise ConfigError(
                f"config key 'resources.evaluate.gpus': {res['evaluate']['gpus']} is fewer than "
                f"vllm.tensor_parallel_size = {need}"
            )


SWEEP_SEPARATOR = config_checks.SWEEP_SEPARATOR


def sensitivity_claim_name(claim: str, lr: float) -> str:
    return f"{claim}{SWEEP_SEPARATOR}{lr:g}"


def sensitivity_runs(config: dict) -> list[tuple[str, float, str]]:
    """(claim, lr, the claim name whose runs hold that lr): the default lr maps to the claim itself."""
    runs = []
    for claim in config["sensitivity"]["claims"]:
        default_lr = training_settings(config, claim)["lr"]
        for lr in config["sensitivity"]["lrs"]:
            name = claim if math.isclose(lr, default_lr, rel_tol=1e-9) else sensitivity_claim_name(claim, lr)
            runs.append((claim, float(lr), name))
    return runs


def _add_sensitivity_claims(config: dict) -> None:
    """Each swept (claim, lr) other than the default becomes a claim of its own, so the ordinary
    train / evaluate rules run it; its name says what it is (e.g. random__lr0.0003)."""
    for claim, lr, name in sensitivity_runs(config):
        if name == claim or name in config["claims"]:
            continue
        derived = copy.deepcopy(config["claims"][claim])
        derived["training"] = {**derived.get("training", {}), "lr": lr}
        derived["description"] = f"{derived.get('description', claim)} (learning-rate sweep: lr = {lr:g})"
        derived["seeds"] = list(config["sensitivity"]["seeds"])
        config["claims"][name] = derived


# --- models the config derives from its table models: the alignment dial and the contaminated control ---
def dial_model_name(model: str, task: str, level: float) -> str:
    return f"{model}-{task}{level:g}"


def dial_levels(config: dict) -> list[tuple[float, str]]:
    """(corpus fraction, model name) per dial level, in increasing fraction; a level equal to the dial
    model's own fraction is that model itself, so its runs are shared with the tables."""
    dial = config["dial"]
    if not dial["levels"]:
        return []
    own = config["models"][dial["model"]]["corpus"]["task_fractions"].get(dial["task"], 0.0)
    return [
        (float(level), dial["model"] if math.isclose(level, own, abs_tol=1e-12)
         else dial_model_name(dial["model"], dial["task"], level))
        for level in sorted(dial["levels"])
    ]


def control_model_name(config: dict) -> str:
    return f"{config['contamination']['control']['model']}-contaminated"


def replica_model_name(model: str, replica: int) -> str:
    """Pretraining replica ``replica`` (>= 1) of ``model``; replica 0 is the model itself."""
    if replica < 1:
        raise ValueError(f"replica {replica}: replica 0 of '{model}' is '{model}' itself")
    return f"{model}.p{replica}"


def replica_config(model: dict, replica: int, offset: int) -> dict:
    """``model`` with its corpus and pretraining seeds raised by ``replica x offset``; nothing else differs."""
    copied = copy.deepcopy(model)
    copied["corpus"]["seed"] = int(model["corpus"]["seed"]) + replica * offset
    copied["pretrain"]["seed"] = int(model["pretrain"]["seed"]) + replica * offset
    base = model.get("description") or "model"
    copied["description"] = f"{base} (pretraining replica {replica}: corpus and pretrain seeds + {replica * offset})"
    return copied


def margin_replicas(config: dict) -> dict[str, list[str]]:
    """Pretrained table model -> its replicas' names, the model itself first (hub models have none)."""
    count = config["margins"]["pretrain_seeds"]
    return {m: [m] + [replica_model_name(m, i) for i in range(1, count)]
            for m in sorted(config["models"]) if config["models"][m]["source"] == "pretrain"}


def dial_replicas(config: dict) -> dict[str, list[str]]:
    """Dial level model -> its replicas' names, the level's own model first."""
    count = config["dial"]["pretrain_seeds"]
    return {name: [name] + [replica_model_name(name, i) for i in range(1, count)] for _, name in dial_levels(config)}


def replica_seeds(config: dict) -> dict[str, dict]:
    """Every model of the margins and the dial -> {model: its replica 0, replica, corpus_seed, pretrain_seed}."""
    models = all_models(config)
    out = {}
    for groups in (margin_replicas(config), dial_replicas(config)):
        for primary, names in groups.items():
            for i, name in enumerate(names):
                out[name] = {"model": primary, "replica": i, "corpus_seed": int(models[name]["corpus"]["seed"]),
                             "pretrain_seed": int(models[name]["pretrain"]["seed"])}
    return out


def derived_models(config: dict) -> dict[str, dict]:
    """Model configs that are not table rows: one per dial level (only the dialled task fraction
    differs from the dial model) and the contaminated control (its corpus also holds every evaluation
    problem, `contaminate.copies` times)."""
    derived: dict[str, dict] = {}
    for level, name in dial_levels(config):
        if name in config["models"]:
            continue
        model = copy.deepcopy(config["models"][config["dial"]["model"]])
        model["corpus"]["task_fractions"][config["dial"]["task"]] = level
        model["description"] = (f"alignment dial: {config['dial']['model']} with {config['dial']['task']} "
                                f"fraction {level:g}")
        derived[name] = model
    # Pretraining replicas: of each pretrained table model (margins) and of each dial level. A dial level
    # that is a table model shares its replicas with the margins (same name, same seeds).
    offset = config["margins"]["seed_offset"]
    for groups, pool in ((margin_replicas(config), config["models"]),
                         (dial_replicas(config), {**config["models"], **derived})):
        for primary, names in groups.items():
            for i, name in enumerate(names[1:], start=1):
                derived.setdefault(name, replica_config(pool[primary], i, offset))
    control = config["contamination"]["control"]
    if config["contamination"]["models"] and control["enabled"]:
        model = copy.deepcopy(config["models"][control["model"]])
        model["description"] = f"contaminated control: {control['model']} plus every test problem x {control['copies']}"
        model["contaminate"] = {"copies": control["copies"]}
        derived[control_model_name(config)] = model
    return derived


def all_models(config: dict) -> dict[str, dict]:
    return {**config["models"], **derived_models(config)}


def contamination_models(config: dict) -> list[str]:
    models = list(config["contamination"]["models"])
    if models and config["contamination"]["control"]["enabled"]:
        models.append(control_model_name(config))
    return models


def _check_beyond(config: dict) -> None:
    """Cross references of the dial, large-k and contamination sections."""
    dial = config["dial"]
    if dial["levels"]:
        if dial["model"] not in config["models"]:
            raise ConfigError(f"config key 'dial.model': unknown model '{dial['model']}'; "
                              f"known: {sorted(config['models'])}")
        if config["models"][dial["model"]]["source"] != "pretrain":
            raise ConfigError(f"config key 'dial.model': '{dial['model']}' is not pretrained here; "
                              "the dial changes its corpus")
        if dial["task"] not in config["tasks"]:
            raise ConfigError(f"config key 'dial.task': unknown task '{dial['task']}'; "
                              f"known: {sorted(config['tasks'])}")
        if len(dial["levels"]) < 2:
            raise ConfigError("config key 'dial.levels': a dial needs at least 2 levels")
        corpus = config["models"][dial["model"]]["corpus"]
        others = sum(f for t, f in corpus["task_fractions"].items() if t != dial["task"]) + corpus["subskill_fraction"]
        if max(dial["levels"]) + others > 1.0 + 1e-9:
            raise ConfigError(
                f"config key 'dial.levels': level {max(dial['levels']):g} plus the other fractions of model "
                f"'{dial['model']}' ({others:.3f}) exceeds 1"
            )
        clash = {name for _, name in dial_levels(config) if name != dial["model"]} & set(config["models"])
        if clash:
            raise ConfigError(f"config key 'models': names {sorted(clash)} are reserved for dial levels")
    _check_replicas(config)
    for key, claims in (("dial.claims", dial["claims"]), ("large_k.claims", config["large_k"]["claims"])):
        for claim in claims:
            if claim not in config["claims"]:
                raise ConfigError(f"config key '{key}': unknown claim '{claim}'; known: {sorted(config['claims'])}")
    large = config["large_k"]
    for k in large["ks"]:
        if k > large["n"]:
            raise ConfigError(f"config key 'large_k.ks': k = {k} is larger than large_k.n = {large['n']}")
    probe = config["contamination"]
    for name in probe["models"]:
        if name not in config["models"]:
            raise ConfigError(
                f"config key 'contamination.models': unknown model '{name}'; known: {sorted(config['models'])}"
            )
        if config["models"][name]["source"] != "pretrain":
            raise ConfigError(
                f"config key 'contamination.models': '{name}' is a hub model; the probe runs the native sampler "
                "on pretrained models of this pipeline only"
            )
    if probe["models"] and probe["control"]["enabled"]:
        if probe["control"]["model"] not in config["models"]:
            raise ConfigError(
                f"config key 'contamination.control.model': unknown model '{probe['control']['model']}'; "
                f"known: {sorted(config['models'])}"
            )
        if control_model_name(config) in config["models"]:
            raise ConfigError(f"config key 'models': the name '{control_model_name(config)}' "
                              "is reserved for the control")


def _check_replicas(config: dict) -> None:
    """Replica names are new, valid path components; a derived name never hides a configured model."""
    import re

    from alignrl.core.paths import NAME_PATTERN

    names = {name for group in (margin_replicas(config), dial_replicas(config))
             for replicas in group.values() for name in replicas[1:]}
    clash = names & set(config["models"])
    if clash:
        raise ConfigError(f"config key 'models': names {sorted(clash)} are reserved for pretraining replicas "
                          "(margins.pretrain_seeds, dial.pretrain_seeds); rename the model")
    for name in sorted(names):
        if not re.match(NAME_PATTERN, name):
            raise ConfigError(f"config key 'margins.pretrain_seeds': replica name '{name}' is not a valid model name")


def prevalidate(config: dict, configfiles: list | tuple = (), schema: dict | None = None) -> dict:
    """What must run before any schema validation, Snakemake's included: re-read the config files strictly
    (Snakemake's own loader keeps the last of duplicate keys and may give no line), coerce 'true' /
    'false' strings of boolean keys (``--config job_server=false``), name an unknown key with the nearest
    valid one (not the whole schema), and require the sections a config cannot do without."""
    for path in configfiles:
        config_checks.load_yaml(path)
    schema = schema or load_schema()
    if not isinstance(config, dict):
        raise ConfigError("config: the top level must be a mapping of keys")
    config_checks.coerce_booleans(config, schema)
    unknown = config_checks.unknown_keys(config, schema)
    if unknown:
        raise ConfigError(unknown)
    config_checks.check_required_sections(config)
    config_checks.check_finite(config)
    return config


def finalize_config(config: dict) -> dict:
    """Validate, fill defaults in place, add the sweep's claims and check cross references."""
    schema = load_schema()
    prevalidate(config, schema=schema)
    validate_against_schema(config, schema)
    _fill_defaults(config, schema)
    config_checks.check_values(config)
    check_cross_references(config)
    _check_variants(config)
    _check_beyond(config)
    _add_sensitivity_claims(config)
    return config


def load_config(path: str | Path, overrides: dict | None = None) -> dict:
    """Load a YAML config (as the workflow would see it) and finalize it."""
    path = Path(path)
    config = config_checks.load_yaml(path) or {}
    if overrides:
        config.update(overrides)
    try:
        return finalize_config(config)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def main(argv: list[str] | None = None) -> int:
    """``python -m alignrl.workflow.config FILE...``: check config files as the workflow would, with the
    line of a YAML error (Snakemake's own loader says only "not valid JSON or YAML")."""
    import sys

    status = 0
    for path in (sys.argv[1:] if argv is None else argv):
        try:
            load_config(path)
            print(f"{path}: ok")
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
