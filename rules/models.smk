rule pretrain_model:
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
    conda:
        "../envs/cpu.yaml"
    log:
        "logs/models/{model}.log",
    benchmark:
        "results/benchmarks/pretrain/{model}.tsv"
    script:
        "../workflow/scripts/pretrain_model.py"
