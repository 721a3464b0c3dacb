"""Shared test settings: one torch thread (the CI machine has two cores and tests run beside other work)."""
import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

torch.set_num_threads(1)
