rule table1:
    input:
        baseline_metrics(),
    output:
        csv="results/table1.csv",
        md="results/table1.md",
    params:
        evaluation=config["evaluation"],
        alignment=config["alignment"],
    log:
        "logs/report/table1.log",
    script:
        "../workflow/scripts/make_table1.py"


rule claims_table:
    input:
        table_metrics,
    output:
        csv="results/{table}.csv",
        md="results/{table}.md",
    params:
        table=table_config,
        evaluation=config["evaluation"],
        alignment=config["alignment"],
        verdict=config["verdict"],
    log:
        "logs/report/{table}.log",
    script:
        "../workflow/scripts/make_claims_table.py"


rule passk_figure:
    input:
        "results/table1.csv",
    output:
        "results/figures/passk_curves.png",
    params:
        evaluation=config["evaluation"],
    log:
        "logs/report/passk_curves.log",
    script:
        "../workflow/scripts/plot_passk.py"


rule figure1:
    input:
        figure1_tables,
    output:
        png="results/figures/figure1.png",
        csv="results/figures/figure1.csv",
    params:
        bars=config["figure1"],
    log:
        "logs/report/figure1.log",
    script:
        "../workflow/scripts/plot_figure1.py"


rule lr_sensitivity:
    input:
        sensitivity_metrics,
    output:
        csv="results/lr_sensitivity.csv",
        md="results/lr_sensitivity.md",
    params:
        runs=sensitivity_runs(config),
        evaluation=config["evaluation"],
        alignment=config["alignment"],
        verdict=config["verdict"],
    log:
        "logs/report/lr_sensitivity.log",
    script:
        "../workflow/scripts/make_sensitivity.py"
