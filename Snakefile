# Reproduction pipeline for "Mirage or Method? How Model-Task Alignment Induces Divergent RL Conclusions".
# data -> base models -> base pass@k (alignment) -> RL per claim x model x task x seed -> evaluation -> tables
import os

from snakemake.utils import min_version, validate

from alignrl.core import paths
from alignrl.workflow import jobserver
from alignrl.workflow.code_tree import use_own_package

min_version("9.0")

# Jobs import this file's package, not whichever checkout the venv's editable install points at.
use_own_package(workflow.basedir)

# A config file named on the command line (--configfile) replaces the embedded default instead of being
# merged into it, so configs/paper.yaml never inherits the tiny models.
# It is found beside this file, so a run in another directory (--directory) uses it too.
if not workflow.overwrite_configfiles:

    configfile: os.path.join(workflow.basedir, "config.yaml")


# Defaults are filled by alignrl.workflow.config.finalize_config (rules/common.smk), which knows that a claim's
# `training` block holds overrides only and must not be padded with defaults.
# First the checks Snakemake's validate cannot make (duplicate YAML keys, a typo named with its nearest key
# instead of the whole schema, 'false' from --config as a boolean); then the schema itself.
from alignrl.workflow.config import prevalidate

prevalidate(config, workflow.configfiles)
validate(config, "schemas/config.schema.yaml", set_default=False)


report: "workflow/report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/models.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"
include: "rules/dial.smk"
include: "rules/margins.smk"
include: "rules/large_k.smk"
include: "rules/contamination.smk"
include: "rules/mechanisms.smk"


# Local runs fork each Python job from one warm process (alignrl.workflow.jobserver): no interpreter start and
# no torch/transformers imports per job. Same results; remote executors never use it.
onstart:
    if workflow.local_exec:  # a SIGINT to Snakemake's PID stops the running jobs too (see relay_interrupts)
        jobserver.relay_interrupts()
    jobserver.workflow_hook(
        "start", enabled=config["job_server"] and workflow.local_exec, log_path=paths.JOB_SERVER_LOG
    )


onsuccess:
    jobserver.workflow_hook("stop")


onerror:
    jobserver.workflow_hook("stop")


rule all:
    input:
        all_targets(),
