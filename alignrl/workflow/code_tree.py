"""Every job runs the `alignrl` of the workflow that schedules it.

Snakemake puts the Snakefile's directory first on its own `sys.path`, so the Snakefile imports the package beside
it. Jobs are other processes (`script:` jobs, the job server, SLURM jobs), whose `sys.path` comes from the
environment and the venv: with an editable install of another checkout they would import that checkout's
package, and a run would mix two trees' code. `use_own_package` puts the workflow's directory first on
PYTHONPATH, which every job inherits, and refuses a Snakefile that did not import its own package.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

import alignrl

__all__ = ["package_root", "use_own_package"]


def package_root() -> Path:
    """The directory that holds the imported `alignrl` package."""
    return Path(alignrl.__file__).resolve().parent.parent


def use_own_package(workflow_dir: str | os.PathLike, environ: MutableMapping[str, str] | None = None) -> None:
    """Make `workflow_dir`'s package the one every job imports; ValueError when this process runs another."""
    environ = os.environ if environ is None else environ
    own = Path(workflow_dir).resolve()
    imported = package_root()
    if imported != own:
        raise ValueError(f"the Snakefile in {own} imported the alignrl package of {imported}; run it with that "
                         f"checkout's Snakefile, or put {own} first on PYTHONPATH")
    rest = [p for p in environ.get("PYTHONPATH", "").split(os.pathsep) if p and Path(p).resolve() != own]
    environ["PYTHONPATH"] = os.pathsep.join([str(own), *rest])
