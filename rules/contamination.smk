# Beyond the paper: the contamination probe. Two disjoint sets of fresh problems from each task's
# generator, outside every split: the reference shows what "never seen" scores look like, and its gap to
# the null set is the null the flag's threshold is read from.
rule contamination_reference:
    input:
        splits=[paths.split_data(s) for s in ("train", "val", "test")],
    output:
        reference=paths.CONTAMINATION_REFERENCE,
        null=paths.CONTAMINATION_NULL,
    log:
        paths.log("contamination", "reference", "{task}"),
    conda:
        "../envs/cpu.yaml"
    params:
        generator=task_sampler,
        size=config["contamination"]["reference_problems"],
        null_size=config["contamination"]["null_problems"],
        seed=config["contamination"]["reference_seed"],
        template=prompt_template,
    script:
        "../workflow/scripts/make_contamination_reference.py"


rule contamination_probe:
    input:
        model=paths.MODEL_DIR,
        test=paths.BENCH_DATA,
        reference=rules.contamination_reference.output.reference,
        null=rules.contamination_reference.output.null,
    output:
        probe=paths.CONTAMINATION_PROBE,
        summary=paths.CONTAMINATION_SUMMARY,
    log:
        paths.log("contamination", paths.CELL_KEY),
    benchmark:
        paths.benchmark("contamination", paths.CELL_KEY)
    conda:
        "../envs/cpu.yaml"
    threads: config["threads"]["evaluate"]
    resources:
        mem_mb=RESOURCES["evaluate"]["mem_mb"],
        runtime=RESOURCES["evaluate"]["runtime"],
    params:
        probe=contamination_probe_settings(),
        template=prompt_template,
        bootstrap=config["evaluation"]["bootstrap"],
        contaminated=is_contaminated_control,
    script:
        "../workflow/scripts/contamination_probe.py"


rule contamination:
    input:
        contamination_summaries,
    output:
        csv=report(table("contamination"), caption=caption("contamination"), category="Beyond the paper"),
        md=report(table("contamination", "md"), caption=caption("contamination"), category="Beyond the paper"),
    log:
        paths.log("report", "contamination"),
    conda:
        "../envs/cpu.yaml"
    script:
        "../workflow/scripts/make_contamination_table.py"
