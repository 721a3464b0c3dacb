rule table1:
    input:
        baseline_metrics(),
    output:
        csv=report("results/table1.csv", caption="../report/table1.rst", category="Tables"),
        md=report("results/table1.md", caption="../report/table1.rst", category="Tables"),
    params:
        evaluation=config["evaluation"],
        alignment=config["alignment"],
    conda:
        "../envs/cpu.yaml"
    log:
        "logs/report/table1.log",
    script:
        "../workflow/scripts/make_table1.py"


rule claims_table:
    input:
        table_metrics,
    output:
        csv=report("results/{table}.csv", caption="../report/claims_table.rst", category="Tables"),
        md=report("results/{table}.md", caption="../report/claims_table.rst", category="Tables"),
    params:
        table=table_config,
        evaluation=config["evaluation"],
        alignment=config["alignment"],
        verdict=config["verdict"],
    conda:
        "../envs/cpu.yaml"
    log:
        "logs/report/{table}.log",
    script:
        "../workflow/scripts/make_claims_table.py"


rule passk_figure:
    input:
        "results/table1.csv",
    output:
        report("results/figures/passk_curves.png", caption="../report/passk_curves.rst", category="Figures"),
    params:
        evaluation=config["evaluation"],
    conda:
        "../envs/cpu.yaml"
    log:
        "logs/report/passk_curves.log",
    script:
        "../workflow/scripts/plot_passk.py"


rule figure1:
    input:
        figure1_tables,
    output:
        png=report("results/figures/figure1.png", caption="../report/figure1.rst", category="Figures"),
        csv="results/figures/figure1.csv",
    params:
        bars=config["figure1"],
    conda:
        "../envs/cpu.yaml"
    log:
        "logs/report/figure1.log",
    script:
        "../workflow/scripts/plot_figure1.py"


rule lr_sensitivity:
    input:
        sensitivity_metrics,
    output:
        csv=report("results/lr_sensitivity.csv", caption="../report/lr_sensitivity.rst", category="Sensitivity"),
        md=report("results/lr_sensitivity.md", caption="../report/lr_sensitivity.rst", category="Sensitivity"),
    params:
        runs=sensitivity_runs(config),
        evaluation=config["evaluation"],
        alignment=config["alignment"],
        verdict=config["verdict"],
    conda:
        "../envs/cpu.yaml"
    log:
        "logs/report/lr_sensitivity.log",
    script:
        "../workflow/scripts/make_sensitivity.py"


# Every claim of every table x model x task: the gain over base, its interval, the verdict and whether it
# agrees with what the paper predicts for the cell's measured alignment.
rule verdicts:
    input:
        verdict_metrics,
    output:
        csv=report("results/verdicts.csv", caption="../report/verdicts.rst", category="Verdicts"),
        md=report("results/verdicts.md", caption="../report/verdicts.rst", category="Verdicts"),
    params:
        evaluation=config["evaluation"],
        alignment=config["alignment"],
        verdict=config["verdict"],
        expectations={c: cfg["expectation"] for c, cfg in config["claims"].items()},
    conda:
        "../envs/cpu.yaml"
    log:
        "logs/report/verdicts.log",
    script:
        "../workflow/scripts/make_verdicts.py"


# No declared output on purpose: an audit must re-read the files every time it is asked, and Snakemake
# skips a job whose output is newer than its inputs. It writes results/audit.txt and fails on a mismatch.
rule audit:
    conda:
        "../envs/cpu.yaml"
    log:
        "logs/report/audit.log",
    script:
        "../workflow/scripts/audit.py"


# The configuration as the run used it, for the report and for `python -m alignrl.workflow.audit --config`.
rule config_used:
    output:
        report("results/config_used.yaml", caption="../report/config_used.rst", category="Configuration"),
    params:
        config=config,
    conda:
        "../envs/cpu.yaml"
    log:
        "logs/report/config_used.log",
    script:
        "../workflow/scripts/write_config.py"
