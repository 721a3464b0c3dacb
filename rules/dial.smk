# Beyond the paper: the alignment dial. Every claim of the dial, trained on every level's primary model;
# one row per level x claim, the level's alignment over its pretraining seeds.
rule dial:
    input:
        dial_metrics,
    output:
        csv=report(table("dial"), caption=caption("dial"), category="Beyond the paper"),
        md=report(table("dial", "md"), caption=caption("dial"), category="Beyond the paper"),
    log:
        paths.log("report", "dial"),
    conda:
        "../envs/cpu.yaml"
    params:
        levels=dial_level_of_model,
        replicas=dial_replicas_of_level,
        evaluation=config["evaluation"],
        alignment=config["alignment"],
        verdict=config["verdict"],
    script:
        "../workflow/scripts/make_dial.py"


rule dial_figure:
    input:
        rules.dial.output.csv,
    output:
        report(figure("dial"), caption=caption("dial"), category="Beyond the paper"),
    log:
        paths.log("report", "dial_figure"),
    conda:
        "../envs/cpu.yaml"
    params:
        alignment=config["alignment"],
        verdict=config["verdict"],
    script:
        "../workflow/scripts/plot_dial.py"
