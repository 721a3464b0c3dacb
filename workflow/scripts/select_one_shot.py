"""Choose the single training example of a one-shot claim and record why."""
from alignrl.workflow.jobserver import forward_to_job_server

forward_to_job_server(globals())  # returns only where this job runs in its own process

import pandas as pd

from alignrl.claims.rows import read_rows, write_rows
from alignrl.claims.selection import select_one_shot
from alignrl.core.runtime import log_to, write_json_atomic

with log_to(snakemake.log[0]):
    wc = snakemake.wildcards
    data = snakemake.params.data
    history_path = getattr(snakemake.input, "history", None) or None
    history = pd.read_csv(history_path) if history_path else None
    row, record = select_one_shot(
        read_rows(snakemake.input.train),
        data["one_shot_rule"],
        seed=int(wc.seed),
        salt=f"{wc.model}/{wc.task}",
        prompt_log=history,
    )
    record.update({"claim": wc.claim, "model": wc.model, "task": wc.task, "source": snakemake.input.train,
                   "history": history_path, "question": row["extra_info"]["question"],
                   "ground_truth": row["reward_model"]["ground_truth"]})
    write_rows([row], snakemake.output.data)
    write_json_atomic(record, snakemake.output.record)
    print(record)
