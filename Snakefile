# Reproduction pipeline for "Mirage or Method? How Model-Task Alignment Induces Divergent RL Conclusions".
# data -> base models -> base pass@k (alignment) -> RL per claim x model x task x seed -> evaluation -> tables
from snakemake.utils import min_version, validate

min_version("9.0")

# A config file named on the command line (--configfile) replaces the embedded default instead of being
# merged into it, so configs/paper.yaml never inherits the tiny models.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


# Defaults are filled by alignrl.workflow.config.finalize_config (rules/common.smk), which knows that a claim's
# `training` block holds overrides only and must not be padded with defaults.
# First the checks Snakemake's validate cannot make (duplicate YAML keys, a typo named with its nearest key
# instead of the whole schema, 'false' from --config as a boolean); then the schema itself.
from alignrl.workflow.config import prevalidate

prevalidate(config, workflow.configfiles)
validate(config, "schemas/config.schema.yaml", set_default=False)

report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/models.smk"
include: "rules/baseline.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"
include: "rules/beyond.smk"


# Local runs fork each Python job from one warm process (alignrl.workflow.jobserver): no interpreter start and
# no torch/transformers imports per job. Same results; remote executors never use it.
onstart:
    if workflow.local_exec:  # a SIGINT to Snakemake's PID stops the running jobs too (see relay_interrupts)
        from alignrl.workflow.jobserver import relay_interrupts

        relay_interrupts()
    start_job_server(workflow)


onsuccess:
    stop_job_server()


onerror:
    stop_job_server()


rule all:
    input:
        all_targets(),
