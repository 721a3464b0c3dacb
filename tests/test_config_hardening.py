"""Bad configs are refused before any job, naming the key (issue 19 items 2-4, issue 14 item 5)."""
from __future__ import annotations

import copy
import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from alignrl.core.errors import ConfigError
from alignrl.native.corpus import build_documents
from alignrl.workflow.config import finalize_config, load_config

REPO = Path(__file__).resolve().parent.parent
SMOKE = yaml.safe_load((REPO / "configs/smoke.yaml").read_text())


def _set(path: str, value):
    def edit(cfg: dict) -> None:
        *parents, last = path.split(".")
        node = cfg
        for p in parents:
            node = node[p]
        node[last] = value
    return edit


def _rename(section: str, old: str, new: str):
    def edit(cfg: dict) -> None:
        cfg[section][new] = cfg[section].pop(old)
    return edit


def _drop(section: str):
    return lambda cfg: cfg.pop(section)


def _all(*edits):
    def edit(cfg: dict) -> None:
        for e in edits:
            e(cfg)
    return edit


A_SIZE = "models.A.size"
# (case id, edit of the smoke config, what the error must name)
BAD: list[tuple[str, Callable[[dict], None], str]] = [
    # issue 19 item 2: silently wrong numbers
    ("claim named base", _rename("claims", "random", "base"), "claims.base"),
    ("duplicate seeds", _set("seeds", [0, 0]), "'seeds'"),
    ("claim twice in a table", _set("tables.table2.claims", ["ground_truth", "random", "ground_truth"]),
     "tables.table2.claims"),
    ("greedy with n > 1", _set("evaluation.temperature", 0), "evaluation.temperature"),
    ("infinite temperature", _set("evaluation.temperature", math.inf), "evaluation.temperature"),
    ("benchmark is the train split", _set("tasks.math.benchmarks", ["test", "train"]), "tasks.math.benchmarks"),
    # item 3: late crashes
    ("verdict.k not among ks", _set("verdict", {"k": 3}), "verdict.k"),
    ("duplicate ks", _set("evaluation.ks", [1, 2, 2, 4]), "evaluation.ks"),
    ("task name with a slash", _rename("tasks", "logic", "lo/gic"), "tasks.lo/gic"),
    ("no models section", _drop("models"), "'models'"),
    ("template without {question}", _set("prompt_template", "Solve it."), "prompt_template"),
    ("template with a chat special token", _set("prompt_template", "{question}<|im_end|>"), "prompt_template"),
    ("hidden_size not divisible by heads", _set(f"{A_SIZE}.hidden_size", 33), "models.A.size.num_heads"),
    ("num_kv_heads > num_heads", _set(f"{A_SIZE}.num_kv_heads", 4), "models.A.size.num_kv_heads"),
    ("seq_len > max_position_embeddings", _set("models.A.pretrain.seq_len", 512), "models.A.pretrain.seq_len"),
    ("NaN learning rate", _set("training.lr", math.nan), "training.lr"),
    ("pool larger than the train split", _set("claims.variance_history.data", {"selection": "pool", "pool_size": 65}),
     "claims.variance_history.data.pool_size"),
    ("evaluation.n huge", _set("evaluation.n", 10**12), "evaluation.n"),
    ("train split huge", _set("tasks.math.split_sizes.train", 10**9), "tasks.math.split_sizes.train"),
    # item 4: messages
    ("top-level typo", _set("trainng", {"steps": 3}), "did you mean 'training'"),
    ("no claims section", _drop("claims"), "'claims'"),
    # issue 14 item 5: reserved and malformed names
    ("claim named baseline", _rename("claims", "random", "baseline"), "claims.baseline"),
    ("model name starting with a dot", _rename("models", "B", ".B"), "models..B"),
    ("task name with whitespace", _rename("tasks", "logic", "lo gic"), "tasks.lo gic"),
    ("empty model name", _rename("models", "B", ""), "models."),
    ("claim named like a seed directory", _rename("claims", "random", "seed0"), "claims.seed0"),
    ("model named like a results directory", _rename("models", "B", "runs"), "models.runs"),
    # beyond the tester's list
    ("claim name holding the sweep separator", _rename("claims", "random", "random__lr1"), "claims.random__lr1"),
    ("synthetic benchmark that is no split", _set("tasks.math.benchmarks", ["test", "hard"]), "tasks.math.benchmarks"),
    ("benchmark name with a slash", _set("tasks.math.benchmarks", ["te/st"]), "tasks.math.benchmarks"),
    ("duplicate sweep learning rates", _set("sensitivity.lrs", [1e-4, 1e-4]), "sensitivity.lrs"),
    ("duplicate claim seeds", _set("claims.random.seeds", [1, 1]), "claims.random.seeds"),
    ("duplicate sweep seeds", _set("sensitivity.seeds", [0, 0]), "sensitivity.seeds"),
    ("num_heads not a multiple of num_kv_heads",
     _all(_set(f"{A_SIZE}.num_heads", 4), _set(f"{A_SIZE}.num_kv_heads", 3)), "models.A.size.num_kv_heads"),
    ("odd head size", _set(f"{A_SIZE}.hidden_size", 34), "models.A.size.num_heads"),
    ("response longer than the model's context", _set("training.max_new_tokens", 256), "training.max_new_tokens"),
    ("{question} twice", _set("prompt_template", "{question} {question}"), "prompt_template"),
    ("table with no claims", _set("tables.table2.claims", []), "tables.table2.claims"),
    ("nested typo", _set("training.lrr", 1e-4), "did you mean 'lr'"),
    ("NaN entropy coefficient", _set("claims.random.entropy_coef", math.nan), "claims.random.entropy_coef"),
    ("infinite corpus fraction", _set("models.A.corpus.subskill_fraction", -math.inf),
     "models.A.corpus.subskill_fraction"),
    ("duplicate probed model", _set("contamination.models", ["A", "A"]), "contamination.models"),
    ("duplicate dial claim", _set("dial.claims", ["random", "random"]), "dial.claims"),
    ("duplicate large-k claim", _set("large_k.claims", ["ground_truth", "ground_truth"]), "large_k.claims"),
    ("duplicate benchmark", _set("tasks.math.benchmarks", ["test", "test"]), "tasks.math.benchmarks"),
    ("no tasks section", _drop("tasks"), "'tasks'"),
    ("large_k.n huge", _set("large_k.n", 10**9), "large_k.n"),
    ("corpus huge", _set("models.A.corpus.num_documents", 10**10), "models.A.corpus.num_documents"),
]


@pytest.mark.parametrize("case,edit,key", BAD, ids=[c for c, _, _ in BAD])
def test_bad_config_is_refused_naming_the_key(case, edit, key):
    cfg = copy.deepcopy(SMOKE)
    edit(cfg)
    with pytest.raises(ConfigError) as err:
        finalize_config(cfg)
    assert key in str(err.value), (case, str(err.value))
    assert len(str(err.value).splitlines()) <= 3, "one short message, not the schema"


def test_the_shipped_configs_still_pass():
    for path in ("config.yaml", "configs/smoke.yaml", "configs/paper.yaml", "configs/gpu_check.yaml"):
        load_config(REPO / path)


def test_duplicate_yaml_keys_are_refused_with_their_line(tmp_path):
    text = (REPO / "configs/smoke.yaml").read_text().replace("evaluation:\n  n: 4\n", "evaluation:\n  n: 4\n  n: 2\n")
    path = tmp_path / "dup.yaml"
    path.write_text(text)
    line = text.splitlines().index("  n: 2") + 1
    with pytest.raises(ConfigError, match=rf"line {line}: duplicate key 'n'"):
        load_config(path)


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("seeds: [0\nclaims: {}\n")
    with pytest.raises(ConfigError, match=r"broken.yaml: not valid YAML: line \d+, column \d+"):
        load_config(path)


def test_boolean_strings_from_the_command_line_are_booleans():
    cfg = copy.deepcopy(SMOKE)
    cfg["job_server"] = "false"  # what `--config job_server=false` gives
    cfg["contamination"]["control"]["enabled"] = "True"
    finalize_config(cfg)
    assert cfg["job_server"] is False and cfg["contamination"]["control"]["enabled"] is True
    cfg = copy.deepcopy(SMOKE)
    cfg["job_server"] = "no"
    with pytest.raises(ConfigError, match="job_server"):
        finalize_config(cfg)


def test_seed_lists_from_the_command_line_are_integers():
    cfg = copy.deepcopy(SMOKE)
    cfg["seeds"] = ["0", "1"]  # what Snakemake 9 makes of `--config 'seeds=[0,1]'`
    finalize_config(cfg)
    assert cfg["seeds"] == [0, 1]
    cfg = copy.deepcopy(SMOKE)
    cfg["seeds"] = ["0", "x"]
    with pytest.raises(ConfigError, match="seeds"):
        finalize_config(cfg)


def _smoke_with_logic_renamed_kor() -> dict:
    cfg = copy.deepcopy(SMOKE)
    cfg["tasks"]["kor"] = cfg["tasks"].pop("logic")
    cfg["tasks"]["kor"]["generator"] = "logic"
    for model in cfg["models"].values():
        model["corpus"]["task_fractions"]["kor"] = model["corpus"]["task_fractions"].pop("logic")
    return cfg


def test_a_task_named_apart_from_its_generator_is_legitimate():
    cfg = _smoke_with_logic_renamed_kor()
    finalize_config(cfg)


def test_a_renamed_task_reaches_the_pretraining_through_its_params():
    """The generator behind a renamed task is in the pretraining job's params (so renaming it reruns the
    pretraining), and the default config's pretraining params carry no such key."""
    from alignrl.workflow.config import all_models
    from alignrl.workflow.task_options import pretrain_settings

    cfg = _smoke_with_logic_renamed_kor()
    cfg = finalize_config(cfg)
    for name, model in all_models(cfg).items():
        job = pretrain_settings(cfg, model)
        assert job["corpus"]["task_generators"] == {"kor": "logic"}, name
        assert "task_generators" not in model["corpus"], "the model's own config is left alone"
    default = load_config(REPO / "config.yaml")
    assert all("task_generators" not in pretrain_settings(default, m)["corpus"] for m in all_models(default).values())


def test_corpus_keys_fractions_by_task_name_and_draws_from_the_generator():
    kw = {"subskill_fraction": 0.2, "num_documents": 60, "seed": 3}
    renamed = build_documents(task_fractions={"kor": 0.5}, task_generators={"kor": "logic"}, **kw)
    plain = build_documents(task_fractions={"logic": 0.5}, **kw)
    assert {d.kind for d in renamed} == {"task:kor", "subskill", "other"}
    assert sum(d.kind == "task:kor" for d in renamed) == sum(d.kind == "task:logic" for d in plain) == 30
    # where names equal generators (the default config) the corpus is byte for byte the old one
    same = build_documents(task_fractions={"logic": 0.5}, task_generators={"logic": "logic"}, **kw)
    assert same == plain


def _snakemake(workdir: Path, config: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-n", "results/table2.csv", *extra, "-s", str(REPO / "Snakefile"),
           "--directory", str(workdir), "--cores", "1", "--configfile", str(config)]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, env=env, check=False)


@pytest.mark.parametrize("case,edit,needle", [
    ("duplicate key", lambda t: t.replace("evaluation:\n  n: 4\n", "evaluation:\n  n: 4\n  n: 2\n"),
     "duplicate key 'n'"),
    ("typo", lambda t: t.replace("training:\n", "trainng:\n"), "did you mean 'training'"),
    ("claim named base", lambda t: t.replace("  random:\n", "  base:\n"), "claims.base"),
])
def test_snakemake_refuses_before_any_job_naming_the_key(tmp_path, case, edit, needle):
    config = tmp_path / "bad.yaml"
    config.write_text(edit((REPO / "configs/smoke.yaml").read_text()))
    proc = _snakemake(tmp_path, config)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and needle in out, out[-3000:]
    assert len(out.splitlines()) < 60, "the message, not the whole schema"
    assert not (tmp_path / "data").exists() and not (tmp_path / "results").exists()


def test_snakemake_accepts_job_server_false_from_the_command_line(tmp_path):
    proc = _snakemake(tmp_path, REPO / "configs/smoke.yaml", "--config", "job_server=false")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]


def test_snakemake_accepts_a_seed_list_from_the_command_line(tmp_path):
    proc = _snakemake(tmp_path, REPO / "configs/smoke.yaml", "--config", "seeds=[0,1]")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "seed1" in proc.stdout  # the second seed's runs are planned


def test_config_checker_cli_names_the_yaml_line(tmp_path):
    """Snakemake's own loader rejects broken YAML without a line; the checker the README points to says it."""
    path = tmp_path / "broken.yaml"
    path.write_text("seeds: [0]\ntasks:\n  math: {generator: math\nclaims: {}\n")
    proc = subprocess.run([sys.executable, "-m", "alignrl.workflow.config", str(path)], capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=str(REPO)), check=False)
    assert proc.returncode == 1 and "line 4, column" in proc.stderr, proc.stderr
    proc = subprocess.run([sys.executable, "-m", "alignrl.workflow.config", str(REPO / "configs/smoke.yaml")],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)), check=False)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_task_named_apart_from_its_generator_runs_end_to_end(tmp_path):
    """`tasks: {kor: {generator: logic}}` used to crash pretraining with KeyError: unknown task 'kor'."""
    cfg = copy.deepcopy(SMOKE)
    cfg["tasks"] = {"kor": {**cfg["tasks"]["logic"], "generator": "logic"}}
    cfg["models"] = {"A": cfg["models"]["A"]}
    cfg["models"]["A"]["corpus"]["task_fractions"] = {"kor": 0.5}
    cfg["claims"] = {"ground_truth": cfg["claims"]["ground_truth"]}
    cfg["tables"] = {"table2": {"title": "renamed task", "claims": ["ground_truth"]}}
    cfg["figure1"], cfg["dial"], cfg["large_k"], cfg["contamination"] = {}, {}, {}, {}
    cfg["sensitivity"] = {"lrs": [], "claims": [], "seeds": [0]}
    path = tmp_path / "kor.yaml"
    path.write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "snakemake", "results/table2.csv", "-s", str(REPO / "Snakefile"),
           "--directory", str(tmp_path), "--cores", "2", "--configfile", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path,
                          env=dict(os.environ, PYTHONPATH=str(REPO), PYTHONHASHSEED="0"), check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "A,kor,test" in (tmp_path / "results/table2.csv").read_text()


def test_a_changed_generator_option_reruns_the_data_jobs_and_the_default_none(tmp_path):
    """The options reach the data jobs as params: a changed hard_share reruns math's split jobs (not logic's),
    and the default written out gives the params the jobs had before the option existed."""
    def snakemake(cfg: dict, *extra: str) -> str:
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(cfg))
        cmd = [sys.executable, "-m", "snakemake", "data/math/test.parquet", "data/logic/test.parquet", *extra,
               "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "--cores", "1", "--configfile", str(path)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path,
                              env=dict(os.environ, PYTHONPATH=str(REPO)), check=False)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
        return proc.stdout + proc.stderr

    snakemake(SMOKE)
    default = copy.deepcopy(SMOKE)
    default["tasks"]["math"]["generator_options"] = {"hard_share": 0.03}
    assert "Nothing to be done" in snakemake(default, "-n")
    changed = copy.deepcopy(SMOKE)
    changed["tasks"]["math"]["generator_options"] = {"hard_share": 0.05}
    out = snakemake(changed, "-n")
    assert "Params have changed" in out and "'generator_options': {'hard_share': 0.05}" in out, out[-3000:]
    assert "data/math/test.parquet" in out and "output: data/logic/test.parquet" not in out, out[-3000:]
