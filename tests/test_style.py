"""The habits CI keeps: `snakemake --lint`, snakefmt on the Snakefile and rules, ruff on the Python code.

Each fails on any finding and prints the findings; the tools are pinned in envs/requirements-cpu.txt and
configured in pyproject.toml ([tool.ruff], [tool.snakefmt])."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:  # a clear failure, not a skip: the suite is the place these run
        pytest.fail(f"{name} is not installed; `pip install -r envs/requirements-cpu.txt`")
    return found


def _workflow_files() -> list[str]:
    return [str(REPO / "Snakefile"), *sorted(str(p) for p in (REPO / "rules").glob("*.smk"))]


def test_snakemake_lint_finds_nothing(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
         "--configfile", str(REPO / "configs/smoke.yaml")],
        capture_output=True, text=True, cwd=tmp_path,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "Lints for" not in out, out[-5000:]


def test_snakefmt_leaves_the_workflow_unchanged():
    proc = subprocess.run([_tool("snakefmt"), "--check", "--diff", *_workflow_files()],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]


def test_ruff_finds_nothing():
    proc = subprocess.run([_tool("ruff"), "check", "--no-cache", "--output-format", "concise", "."],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]


def test_the_style_checks_fail_on_a_finding(tmp_path):
    """The checks above can fail: each tool reports a planted finding."""
    bad_py = tmp_path / "bad.py"
    bad_py.write_text("import os\nimport sys\n")  # unused imports
    ruff = subprocess.run([_tool("ruff"), "check", "--no-cache", "--config", str(REPO / "pyproject.toml"),
                           str(bad_py)], capture_output=True, text=True)
    assert ruff.returncode != 0 and "F401" in ruff.stdout
    bad_smk = tmp_path / "bad.smk"
    bad_smk.write_text('rule x:\n    output: "a"\n    shell: "touch {output}"\n')
    fmt = subprocess.run([_tool("snakefmt"), "--check", str(bad_smk)], capture_output=True, text=True)
    assert fmt.returncode != 0


def test_conda_environments_install_the_pinned_pip_lists():
    """What `--sdm conda` would build, as far as it can be checked without conda (no conda channel is
    reachable where this suite was written): each environment is python 3.11 plus one pinned pip list and the
    package itself, the list being the one `make setup` installs (CPU) or the GPU install step names."""
    import yaml

    for env, requirements in (("cpu.yaml", "requirements-cpu.txt"), ("gpu.yaml", "requirements-gpu.txt")):
        spec = yaml.safe_load((REPO / "envs" / env).read_text())
        pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))
        assert "python=3.11" in spec["dependencies"] and pip == [f"-r {requirements}", "-e .."], (env, pip)
        lines = [ln.split("#")[0].strip() for ln in (REPO / "envs" / requirements).read_text().splitlines()]
        unpinned = [ln for ln in lines if ln and not ln.startswith("-") and "==" not in ln]
        assert not unpinned, (requirements, unpinned)
