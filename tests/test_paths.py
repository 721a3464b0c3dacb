"""alignrl.core.paths: the one place that spells the pipeline's paths, and parses metrics paths by position."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from alignrl.core import paths
from alignrl.core.paths import (
    BASE,
    LARGE_K,
    RESULTS,
    baseline_metrics_path,
    eval_metrics_path,
    parse_metrics_path,
    sources_from_metrics,
)

REPO = Path(__file__).resolve().parent.parent


def test_a_claim_named_baseline_is_not_read_as_a_base_cell():
    path = "results/eval/baseline/A/math/seed0/test/metrics.json"
    want = {"claim": "baseline", "model": "A", "task": "math", "bench": "test", "seed": 0}
    assert parse_metrics_path(path) == want
    assert parse_metrics_path(path, root=RESULTS) == want
    # a task or benchmark named baseline or eval is read at its position too
    assert parse_metrics_path("results/eval/gt/A/baseline/seed1/eval/metrics.json", root=RESULTS) == {
        "claim": "gt", "model": "A", "task": "baseline", "bench": "eval", "seed": 1}


def test_paths_round_trip_under_both_evaluation_roots(tmp_path):
    for root in (RESULTS, LARGE_K):
        base = baseline_metrics_path("A", "math", "test", root)
        run = eval_metrics_path("random", "B", "logic", 3, "test", root)
        assert parse_metrics_path(base, root) == {"claim": BASE, "model": "A", "task": "math", "bench": "test",
                                                  "seed": None}
        assert parse_metrics_path(run, root)["claim"] == "random" and parse_metrics_path(run, root)["seed"] == 3
        # without a root, an absolute path anywhere (a test's tmp_path) reads the same
        assert parse_metrics_path(tmp_path / run) == parse_metrics_path(run, root)
    assert baseline_metrics_path("A", "math", "test", LARGE_K) == "results/large_k/baseline/A/math/test/metrics.json"


def test_a_path_that_fits_both_layouts_needs_its_root():
    # a checkout in a directory named "eval", with a task named like a seed directory: the last five and
    # the last seven components both read as a layout, so only the root can tell
    path = "/home/u/eval/results/baseline/A/seed2/test/metrics.json"
    with pytest.raises(ValueError, match="name its results root"):
        parse_metrics_path(path)
    info = parse_metrics_path(path, root="/home/u/eval/results")
    assert info["claim"] == BASE and info["task"] == "seed2"


@pytest.mark.parametrize("path, root, message", [
    ("elsewhere/metrics.json", None, "not a baseline"),
    ("results/eval/gt/A/math/zero/test/metrics.json", None, "seed<N>"),
    ("results/baseline/A/math/test/metrics.json", LARGE_K, "not under the results root"),
    ("results/large_k/baseline/A/math/test/metrics.json", RESULTS, "not a baseline"),  # the large-k root's files
    ("results/baseline/A/math/test/extra/metrics.json", RESULTS, "not a baseline"),
])
def test_malformed_paths_are_refused_naming_the_path(path, root, message):
    with pytest.raises(ValueError, match=message) as err:
        parse_metrics_path(path, root)
    assert path in str(err.value)


def test_sources_group_seeds_with_a_root():
    files = [eval_metrics_path("gt", "A", "math", s, "test", LARGE_K) for s in (0, 1)]
    (cell,) = sources_from_metrics(files, root=LARGE_K)
    assert (cell.claim, cell.metrics_files) == ("gt", files)


def test_reserved_names_and_name_pattern_cover_every_layout_word():
    for word in (paths.BASE, paths.BASELINE_DIR, paths.EVAL_DIR):
        assert word in paths.RESERVED_NAMES
    pattern = re.compile(paths.NAME_PATTERN)
    assert all(pattern.match(n) for n in ("A", "ground_truth__lr0.0003", "A-math0.1", "qwen2.5-math-7b"))
    assert not any(pattern.match(n) for n in ("a/b", "", ".hidden", "x{y}", "a b"))


def test_fill_names_a_missing_wildcard():
    with pytest.raises(KeyError, match="seed"):
        paths.fill(paths.RUN_DIR, claim="c", model="m", task="t")


def test_no_rule_or_script_spells_a_path_of_its_own():
    """Rules, the Snakefile and the workflow scripts take every path from alignrl.core.paths."""
    literal = re.compile(r"""["'](?:results|data|models|logs)/""")
    files = [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]
    files += sorted((REPO / "workflow/scripts").glob("*.py"))
    offenders = []
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if literal.search(code) and not code.lstrip().startswith(('"""', "'''")):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
