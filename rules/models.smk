rule pretrain_model:
    wildcard_constraints:
        model=one_of(PRETRAIN_MODELS),
    input:
        heldout=heldout_data,
        contaminate=contamination_inputs,
    output:
        directory("models/{model}"),
    params:
        model=model_config,
        template=prompt_template,
        contaminate_tasks=contamination_tasks,
    threads: config["threads"]["pretrain"]
    resources:
        mem_mb=RESOURCES["models"]["mem_mb"],
        runtime=RESOURCES["models"]["runtime"],
    conda:
        "../envs/cpu.yaml"
    log:
        "logs/models/{model}.log",
    benchmark:
        "results/benchmarks/pretrain/{model}.tsv"
    script:
        "../workflow/scripts/pretrain_model.py"


# A base model named by a hub id (configs/paper.yaml): linked from local_path or downloaded, never trained here.
rule fetch_model:
    wildcard_constraints:
        model=one_of(HUB_MODELS),
    output:
        directory("models/{model}"),
    params:
        model=model_config,
    resources:
        mem_mb=RESOURCES["models"]["mem_mb"],
        runtime=RESOURCES["models"]["runtime"],
    conda:
        "../envs/cpu.yaml"
    log:
        "logs/models/{model}.log",
    script:
        "../workflow/scripts/fetch_model.py"
