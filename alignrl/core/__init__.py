"""Layer 0: path templates, file records, runtime helpers and errors; imports nothing of alignrl."""
