"""Checks that keep a config from running silently wrong or crashing late (issue 19 items 2-4).

* `load_yaml`: a YAML loader that refuses duplicate keys (PyYAML keeps the last one silently) and
  says the line of a syntax error;
* `coerce_booleans`: ``--config job_server=false`` arrives as the string 'false'; booleans of the schema
  accept 'true' / 'false';
* `unknown_key_message`: a typo'd key is named with the nearest valid one instead of the whole schema;
* `check_values`: names (reserved words, path-unsafe characters), duplicates that would count one run
  twice, non-finite numbers, sampling settings that make pass@k meaningless, model shapes the
  architecture cannot build, pools larger than the split they are drawn from.

Every error names the config key. The reserved words and the name pattern are defined here; the lead may
move them to alignrl.core.paths beside the path templates.
"""
from __future__ import annotations

import difflib
import math
import re
from pathlib import Path
from typing import Any

import yaml

from alignrl.core import paths
from alignrl.core.errors import ConfigError
from alignrl.core.paths import RESERVED_NAMES

# `base` is the before-RL row of every table and `baseline` the directory of its metrics
# (alignrl.core.paths.parse_metrics_path); the rest are directories of the results layout.
NAME_PATTERN = re.compile(paths.NAME_PATTERN)
BENCH_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
SWEEP_SEPARATOR = "__lr"  # alignrl.workflow.config names the learning-rate sweep's claims with it
SYNTHETIC_SPLITS = ("train", "val", "test")


# --------------------------------------------------------------------------- YAML
class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping holding the same key twice."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise ConfigError(
                f"line {line}: duplicate key '{key}' (first on line {seen[key]}); YAML would silently keep "
                "only the last one"
            )
        seen[key] = line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: str | Path) -> Any:
    """Parse a YAML file strictly; errors (ConfigError) name the file and the line."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from exc
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        what = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: not valid YAML: {where}{what}") from None


# --------------------------------------------------------------------------- schema-level help
def _integer_strings(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v.isdigit() for v in value)


def coerce_booleans(config: Any, schema: dict) -> None:
    """Turn 'true' / 'false' strings (what ``--config key=false`` gives) into booleans where the schema
    asks for a boolean, and a list of digit strings (what Snakemake 9 makes of ``--config 'seeds=[0,1]'``)
    into integers where it asks for a list of integers; anything else is left for the schema to refuse."""
    if not isinstance(config, dict) or not isinstance(schema, dict):
        return
    props = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    for key, value in config.items():
        sub = props.get(key, extra if isinstance(extra, dict) else None)
        if not isinstance(sub, dict):
            continue
        if sub.get("type") == "boolean" and isinstance(value, str) and value.lower() in ("true", "false"):
            config[key] = value.lower() == "true"
        elif sub.get("type") == "array" and (sub.get("items") or {}).get("type") == "integer" \
                and _integer_strings(value):
            config[key] = [int(v) for v in value]
        elif isinstance(value, dict):
            coerce_booleans(value, sub)


def unknown_key_message(where: str, unexpected: list[str], allowed: list[str]) -> str:
    parts = []
    for key in unexpected:
        near = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        parts.append(f"'{key}'" + (f" (did you mean '{near[0]}'?)" if near else ""))
    return (f"config key '{where}': unknown key {', '.join(parts)}; "
            f"allowed: {', '.join(sorted(allowed))}")


def unknown_keys(config: Any, schema: dict, where: str = "") -> str | None:
    """The first unknown key (additionalProperties: false), as a message; None if there is none."""
    if not isinstance(config, dict) or not isinstance(schema, dict):
        return None
    props = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    if extra is False:
        bad = [k for k in config if k not in props]
        if bad:
            return unknown_key_message(where or "<top level>", [str(k) for k in bad], list(props))
    for key, value in config.items():
        sub = props.get(key, extra if isinstance(extra, dict) else None)
        found = unknown_keys(value, sub, f"{where}.{key}" if where else str(key)) if isinstance(sub, dict) else None
        if found:
            return found
    return None


def check_required_sections(config: dict) -> None:
    for section in ("tasks", "models", "claims"):
        if section not in config:
            raise ConfigError(
                f"config key '{section}': missing; a config names its {section} (see config.yaml or "
                "configs/smoke.yaml), since a config file given with --configfile replaces the default"
            )


# --------------------------------------------------------------------------- values
def _check_name(kind: str, name: Any, key: str, pattern: re.Pattern = NAME_PATTERN) -> None:
    if not isinstance(name, str) or not pattern.fullmatch(name):
        raise ConfigError(
            f"config key '{key}': {kind} name {name!r} is malformed; a name is one path component: letters, "
            f"digits and {'_ -' if pattern is BENCH_PATTERN else '_ . + -'}, not starting with a dot, no '/' "
            "or whitespace"
        )
    if name.lower() in RESERVED_NAMES or re.fullmatch(r"seed\d+", name):
        raise ConfigError(
            f"config key '{key}': {kind} name '{name}' is reserved (the results layout and the tables use "
            f"it: {sorted(RESERVED_NAMES)} and seed<N>); rename it"
        )


def check_names(config: dict) -> None:
    for kind, section in (("task", "tasks"), ("model", "models"), ("claim", "claims"), ("table", "tables")):
        for name in config.get(section) or {}:
            _check_name(kind, name, f"{section}.{name}")
    for name in config.get("claims") or {}:
        if SWEEP_SEPARATOR in name:
            raise ConfigError(f"config key 'claims.{name}': '{SWEEP_SEPARATOR}' in a claim name is reserved for "
                              "the learning-rate sweep's claims")
    for name, task in (config.get("tasks") or {}).items():
        for bench in task.get("benchmarks", []):
            if bench not in ("train", "val"):  # refused below with their own message
                _check_name("benchmark", bench, f"tasks.{name}.benchmarks", BENCH_PATTERN)


def _no_duplicates(values: list, key: str, what: str) -> None:
    seen = set()
    for v in values:
        if v in seen:
            raise ConfigError(f"config key '{key}': {what} {v!r} is listed twice; {_TWICE.get(what, 'list it once')}")
        seen.add(v)


_TWICE = {
    "seed": "one run would count twice in the mean and its standard error",
    "claim": "a claim's row would appear twice",
    "k": "each k is one column",
}


def check_duplicates(config: dict) -> None:
    _no_duplicates(config["seeds"], "seeds", "seed")
    for name, claim in config["claims"].items():
        if claim.get("seeds") is not None:
            _no_duplicates(claim["seeds"], f"claims.{name}.seeds", "seed")
    for name, table in config["tables"].items():
        _no_duplicates(table["claims"], f"tables.{name}.claims", "claim")
        if not table["claims"]:
            raise ConfigError(f"config key 'tables.{name}.claims': empty; a table compares at least one claim "
                              "with the base model")
    _no_duplicates(config["evaluation"]["ks"], "evaluation.ks", "k")
    _no_duplicates(config["large_k"]["ks"], "large_k.ks", "k")
    sens = config["sensitivity"]
    _no_duplicates(sens["claims"], "sensitivity.claims", "claim")
    _no_duplicates(sens["lrs"], "sensitivity.lrs", "learning rate")
    _no_duplicates(sens["seeds"], "sensitivity.seeds", "seed")
    _no_duplicates(config["dial"]["claims"], "dial.claims", "claim")
    _no_duplicates(config["large_k"]["claims"], "large_k.claims", "claim")
    _no_duplicates(config["contamination"]["models"], "contamination.models", "model")
    for name, task in config["tasks"].items():
        _no_duplicates(task["benchmarks"], f"tasks.{name}.benchmarks", "benchmark")


def check_finite(value: Any, key: str = "") -> None:
    """NaN and infinity pass every `minimum` of the schema (or fail it with an unhelpful message)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"config key '{key}': {value} is not a finite number")
    if isinstance(value, dict):
        for k, v in value.items():
            check_finite(v, f"{key}.{k}" if key else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_finite(v, f"{key}[{i}]")


def check_sampling(config: dict) -> None:
    ev = config["evaluation"]
    if ev["temperature"] == 0 and ev["n"] > 1:
        raise ConfigError(
            f"config key 'evaluation.temperature': 0 (greedy) makes all n = {ev['n']} samples of a problem equal, "
            "so pass@k = pass@1 for every k; use a positive temperature or n: 1"
        )
    if config["verdict"]["k"] not in ev["ks"]:
        raise ConfigError(f"config key 'verdict.k': {config['verdict']['k']} is not one of evaluation.ks {ev['ks']}")


def check_template(template: str) -> None:
    if "{question}" not in template:
        raise ConfigError("config key 'prompt_template': must contain '{question}', where each problem goes")
    special = re.findall(r"<\|[^|<>]*\|>", template)
    if special:
        raise ConfigError(
            f"config key 'prompt_template': holds {special[0]}, a special token of the chat format; the "
            "tokenizer would read it as a turn boundary, not as text"
        )
    if template.count("{question}") > 1:
        raise ConfigError("config key 'prompt_template': '{question}' appears more than once; each prompt would "
                          "hold its question twice")


def check_models(config: dict) -> None:
    for name, model in config["models"].items():
        if model["source"] != "pretrain":
            continue
        size, pre = model["size"], model["pretrain"]
        key = f"models.{name}.size"
        if size["hidden_size"] % size["num_heads"]:
            raise ConfigError(f"config key '{key}.num_heads': hidden_size {size['hidden_size']} is not divisible by "
                              f"num_heads {size['num_heads']}")
        if (size["hidden_size"] // size["num_heads"]) % 2:
            raise ConfigError(f"config key '{key}.num_heads': the head size hidden_size / num_heads = "
                              f"{size['hidden_size'] // size['num_heads']} must be even (rotary embeddings)")
        if size["num_kv_heads"] > size["num_heads"] or size["num_heads"] % size["num_kv_heads"]:
            raise ConfigError(f"config key '{key}.num_kv_heads': {size['num_kv_heads']} must divide num_heads "
                              f"{size['num_heads']} (grouped-query attention)")
        limit = size["max_position_embeddings"]
        if pre["seq_len"] > limit:
            raise ConfigError(f"config key 'models.{name}.pretrain.seq_len': {pre['seq_len']} exceeds "
                              f"size.max_position_embeddings {limit}")
        for section in ("evaluation", "training"):
            if config[section]["max_new_tokens"] >= limit:
                raise ConfigError(f"config key '{section}.max_new_tokens': {config[section]['max_new_tokens']} "
                                  f"leaves no room for the prompt within model '{name}''s "
                                  f"max_position_embeddings {limit}")


def check_tasks(config: dict) -> None:
    for name, task in config["tasks"].items():
        if task["source"] != "synthetic":
            continue
        for bench in task["benchmarks"]:
            if bench in ("train", "val"):
                raise ConfigError(
                    f"config key 'tasks.{name}.benchmarks': '{bench}' is a training / selection split; a benchmark "
                    "must be held out (synthetic tasks have one: test)"
                )
            if bench not in SYNTHETIC_SPLITS:
                raise ConfigError(f"config key 'tasks.{name}.benchmarks': a synthetic task writes train, val and test "
                                  f"only; there is no split '{bench}'")
    for claim_name, claim in config["claims"].items():
        data = claim["data"]
        if data["selection"] != "pool":
            continue
        for task_name, task in config["tasks"].items():
            if task["source"] == "synthetic" and data["pool_size"] > task["split_sizes"]["train"]:
                raise ConfigError(
                    f"config key 'claims.{claim_name}.data.pool_size': {data['pool_size']} is larger than task "
                    f"'{task_name}''s train split ({task['split_sizes']['train']} problems)"
                )


def check_values(config: dict) -> None:
    """The checks above that need the defaults filled in."""
    check_names(config)
    check_duplicates(config)
    check_sampling(config)
    check_template(config["prompt_template"])
    check_models(config)
    check_tasks(config)
