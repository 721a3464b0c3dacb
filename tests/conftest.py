"""Shared test settings: the pipeline's default numeric mode, and one torch thread (the CI machine has two
cores and tests run beside other work)."""
import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from alignrl.core import numerics  # noqa: E402

# Before torch loads, as the Snakefile does: tests then run the kernels the pipeline runs.
numerics.pin_environment(numerics.DEFAULT_MODE)

import torch  # noqa: E402

torch.set_num_threads(1)
