"""Jobs run the workflow's own package: PYTHONPATH beats the venv's editable install."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from alignrl.workflow.code_tree import package_root, use_own_package

ROOT = Path(__file__).resolve().parents[1]


def test_a_job_of_a_copied_tree_imports_the_copy_not_the_installed_checkout(tmp_path):
    copy = tmp_path / "snapshot"
    shutil.copytree(ROOT / "alignrl", copy / "alignrl", ignore=shutil.ignore_patterns("__pycache__"))
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": "/elsewhere"}
    # as the snapshot's Snakefile would: its process imported the snapshot's package
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import os; "
            "from alignrl.workflow.code_tree import use_own_package; use_own_package(sys.argv[1]); "
            "print(os.environ['PYTHONPATH'])")
    pythonpath = subprocess.run([sys.executable, "-c", code, str(copy)], env=env, capture_output=True, text=True,
                                check=True).stdout.strip()
    assert pythonpath.split(":") == [str(copy.resolve()), "/elsewhere"]
    job = subprocess.run([sys.executable, "-c", "import alignrl; print(alignrl.__file__)"],
                         env={**env, "PYTHONPATH": pythonpath}, cwd=tmp_path, capture_output=True, text=True,
                         check=True).stdout.strip()
    assert Path(job).resolve() == (copy / "alignrl" / "__init__.py").resolve()


def test_a_snakefile_that_imported_another_trees_package_is_refused(tmp_path):
    environ = {}
    with pytest.raises(ValueError, match="imported the alignrl package of"):
        use_own_package(tmp_path, environ)
    assert environ == {}


def test_the_own_tree_goes_first_once():
    environ = {"PYTHONPATH": f"/a:{package_root()}:/b"}
    use_own_package(package_root(), environ)
    assert environ["PYTHONPATH"] == f"{package_root()}:/a:/b"
