"""The embedded engine: tokenizer, corpus, modeling, pretraining, sampling, training, evaluation (CPU)."""
