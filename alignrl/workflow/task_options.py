"""What each job is given of a task's generator options: only the options that differ from the generator's
defaults, so that the params of every job whose task keeps the defaults stay what they were before the
options existed (the same rule as ``alignrl.workflow.config.LATER_SETTINGS`` for trainer settings)."""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alignrl.claims.tasks import Task

__all__ = ["generator_options", "task_settings", "sampler", "sampler_task", "pretrain_settings"]


def generator_options(config: dict, task: str) -> dict:
    """The generator options of configured task `task` that differ from its generator's defaults (none for
    a hub task). Jobs get only these, as with LATER_SETTINGS: the params of every job whose task keeps the
    defaults are the ones it had before the options existed, so its outputs stay current."""
    from alignrl.claims.tasks import TASKS

    cfg = config["tasks"][task]
    if cfg["source"] != "synthetic":
        return {}
    defaults = TASKS[cfg["generator"]].options
    return {k: v for k, v in sorted(cfg["generator_options"].items()) if v != defaults[k]}


def task_settings(config: dict, task: str) -> dict:
    """The task's config as the data jobs get it: its generator_options only where they differ from the
    generator's defaults (`generator_options`)."""
    settings = {k: v for k, v in config["tasks"][task].items() if k != "generator_options"}
    options = generator_options(config, task)
    if options:
        settings["generator_options"] = options
    return settings


def sampler(config: dict, task: str) -> str | dict:
    """What a job that draws fresh problems of `task` is given: the generator's name, or where some of its
    options differ from the defaults, {"generator": name, "generator_options": those options}."""
    options = generator_options(config, task)
    name = config["tasks"][task]["generator"]
    return {"generator": name, "generator_options": options} if options else name


def sampler_task(spec: str | dict) -> Task:
    """The task a job samples from: `spec` is a generator name, or a mapping with `generator` and optionally
    `generator_options` (`sampler`, `task_settings`)."""
    from alignrl.claims.tasks import get_task

    if isinstance(spec, str):
        return get_task(spec)
    return get_task(spec["generator"], spec.get("generator_options"))


def pretrain_settings(config: dict, model: dict) -> dict:
    """A pretrained model's config as its job gets it. Of the tasks its corpus draws worked examples of:
    where a task's generator options differ from the defaults, `corpus.task_options` (task -> those options)
    says so (`generator_options`); where a task is named apart from its generator (a task `kor` with
    generator `logic`), `corpus.task_generators` (task -> generator) says so. Both are in the job's params,
    so a change reruns the pretraining, and both are absent where nothing differs, so the params of the
    default config's pretrainings are the ones from before these keys existed."""
    drawn = [t for t, f in sorted(model["corpus"]["task_fractions"].items()) if f > 0]
    options = {t: o for t in drawn if (o := generator_options(config, t))}
    generators = {
        t: config["tasks"][t]["generator"]
        for t in drawn
        if config["tasks"][t]["source"] == "synthetic" and config["tasks"][t]["generator"] != t
    }
    if not options and not generators:
        return model
    settings = copy.deepcopy(model)
    if options:
        settings["corpus"]["task_options"] = options
    if generators:
        settings["corpus"]["task_generators"] = generators
    return settings
