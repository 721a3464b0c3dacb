# Issue 15: every pretrained table model's base cells on each pretraining replica, classed by interval.
rule margins:
    input:
        margins_metrics,
    output:
        csv=report(table("margins"), caption=caption("margins"), category="Beyond the paper"),
        cells=table("margins_cells"),
        md=report(table("margins", "md"), caption=caption("margins"), category="Beyond the paper"),
    log:
        paths.log("report", "margins"),
    conda:
        "../envs/cpu.yaml"
    params:
        **planned_params("margins"),
    script:
        "../workflow/scripts/make_margins.py"
