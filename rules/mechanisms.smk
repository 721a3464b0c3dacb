# Issue 16 item 6, beyond the paper: mechanism controls (format, sharpening, clip bias) on every model x task
# cell, built by the claims tables' builder from the config's `mechanisms:` claims.
rule mechanisms:
    input:
        mechanisms_metrics,
    output:
        csv=report(table("mechanisms"), caption=caption("mechanisms"), category="Beyond the paper"),
        md=report(table("mechanisms", "md"), caption=caption("mechanisms"), category="Beyond the paper"),
    log:
        paths.log("report", "mechanisms"),
    conda:
        "../envs/cpu.yaml"
    params:
        table=planned_params("mechanisms").get("table"),
        evaluation=config["evaluation"],
        alignment=config["alignment"],
        verdict=config["verdict"],
    script:
        "../workflow/scripts/make_mechanisms.py"
