rule pretrain_model:
    input:
        heldout=heldout_data,
        contaminate=contamination_inputs,
    output:
        directory(paths.MODEL_DIR),
    log:
        paths.log("models", "{model}"),
    benchmark:
        paths.benchmark("pretrain", "{model}")
    wildcard_constraints:
        model=one_of(PRETRAIN_MODELS),
    conda:
        "../envs/cpu.yaml"
    threads: config["threads"]["pretrain"]
    resources:
        mem_mb=RESOURCES["models"]["mem_mb"],
        runtime=RESOURCES["models"]["runtime"],
    params:
        model=pretrain_config,
        template=prompt_template,
        contaminate_tasks=contamination_tasks,
    script:
        "../workflow/scripts/pretrain_model.py"


# A base model named by a hub id (configs/paper.yaml): linked from local_path or downloaded, never trained here.
rule fetch_model:
    output:
        directory(paths.MODEL_DIR),
    log:
        paths.log("models", "{model}"),
    wildcard_constraints:
        model=one_of(HUB_MODELS),
    conda:
        "../envs/cpu.yaml"
    resources:
        mem_mb=RESOURCES["models"]["mem_mb"],
        runtime=RESOURCES["models"]["runtime"],
    params:
        model=model_config,
    script:
        "../workflow/scripts/fetch_model.py"
