rule table1:
    input:
        baseline_metrics(),
    output:
        csv=report(table("table1"), caption=caption("table1"), category="Tables"),
        md=report(table("table1", "md"), caption=caption("table1"), category="Tables"),
    log:
        paths.log("report", "table1"),
    conda:
        "../envs/cpu.yaml"
    params:
        evaluation=config["evaluation"],
        alignment=config["alignment"],
    script:
        "../workflow/scripts/make_table1.py"


rule claims_table:
    input:
        table_metrics,
    output:
        csv=report(table("{table}"), caption=caption("claims_table"), category="Tables"),
        md=report(table("{table}", "md"), caption=caption("claims_table"), category="Tables"),
    log:
        paths.log("report", "{table}"),
    conda:
        "../envs/cpu.yaml"
    params:
        table=table_config,
        evaluation=config["evaluation"],
        alignment=config["alignment"],
        verdict=config["verdict"],
    script:
        "../workflow/scripts/make_claims_table.py"


rule passk_figure:
    input:
        rules.table1.output.csv,
    output:
        report(figure("passk_curves"), caption=caption("passk_curves"), category="Figures"),
    log:
        paths.log("report", "passk_curves"),
    conda:
        "../envs/cpu.yaml"
    params:
        evaluation=config["evaluation"],
    script:
        "../workflow/scripts/plot_passk.py"


rule figure1:
    input:
        figure1_tables,
    output:
        png=report(figure("figure1"), caption=caption("figure1"), category="Figures"),
        csv=paths.FIGURE1_DATA,
    log:
        paths.log("report", "figure1"),
    conda:
        "../envs/cpu.yaml"
    params:
        bars=config["figure1"],
        evaluation=config["evaluation"],
    script:
        "../workflow/scripts/plot_figure1.py"


rule lr_sensitivity:
    input:
        sensitivity_metrics,
    output:
        csv=report(table("lr_sensitivity"), caption=caption("lr_sensitivity"), category="Sensitivity"),
        md=report(table("lr_sensitivity", "md"), caption=caption("lr_sensitivity"), category="Sensitivity"),
    log:
        paths.log("report", "lr_sensitivity"),
    conda:
        "../envs/cpu.yaml"
    params:
        runs=sensitivity_runs(config),
        evaluation=config["evaluation"],
        alignment=config["alignment"],
        verdict=config["verdict"],
    script:
        "../workflow/scripts/make_sensitivity.py"


# Every claim of every table x model x task: the gain over base, its interval, the verdict and whether it
# agrees with what the paper predicts for the cell's measured alignment.
rule verdicts:
    input:
        verdict_metrics,
    output:
        csv=report(table("verdicts"), caption=caption("verdicts"), category="Verdicts"),
        md=report(table("verdicts", "md"), caption=caption("verdicts"), category="Verdicts"),
    log:
        paths.log("report", "verdicts"),
    conda:
        "../envs/cpu.yaml"
    params:
        evaluation=config["evaluation"],
        alignment=config["alignment"],
        verdict=config["verdict"],
        expectations={c: cfg["expectation"] for c, cfg in config["claims"].items()},
    script:
        "../workflow/scripts/make_verdicts.py"


# Every claim x cell of the claim tables, seed by seed: per-seed, pooled and leave-one-seed-out verdicts.
rule robustness:
    input:
        robustness_metrics,
    output:
        csv=report(table("robustness"), caption=caption("robustness"), category="Verdicts"),
        md=report(table("robustness", "md"), caption=caption("robustness"), category="Verdicts"),
    log:
        paths.log("report", "robustness"),
    conda:
        "../envs/cpu.yaml"
    params:
        evaluation=config["evaluation"],
        alignment=config["alignment"],
        verdict=config["verdict"],
        tables=robustness_tables(config),
    script:
        "../workflow/scripts/make_robustness.py"


# The regime every claim-table run trained in (clip fractions, KL, entropy, format, styles), from its run record.
rule regime:
    input:
        regime_runs,
    output:
        csv=report(table("regime"), caption=caption("regime"), category="Verdicts"),
        md=report(table("regime", "md"), caption=caption("regime"), category="Verdicts"),
    log:
        paths.log("report", "regime"),
    conda:
        "../envs/cpu.yaml"
    script:
        "../workflow/scripts/make_regime.py"


# No declared output on purpose: an audit must re-read the files every time it is asked, and Snakemake
# skips a job whose output is newer than its inputs. It writes results/audit.txt and fails on a mismatch.
rule audit:
    log:
        paths.log("report", "audit"),
    conda:
        "../envs/cpu.yaml"
    script:
        "../workflow/scripts/audit.py"


# The configuration as the run used it, for the report and for `python -m alignrl.workflow.audit --config`.
rule config_used:
    output:
        report(paths.CONFIG_USED, caption=caption("config_used"), category="Configuration"),
    log:
        paths.log("report", "config_used"),
    conda:
        "../envs/cpu.yaml"
    params:
        config=config,
    script:
        "../workflow/scripts/write_config.py"
