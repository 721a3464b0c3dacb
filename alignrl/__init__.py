"""alignrl: the reproduction pipeline's library, in layers (docs/internals.md, tests/test_layers.py).

core       paths, file records, runtime, errors          imports nothing of alignrl
claims     the one definition of each claim              core
analysis   tables, verdicts, dial, large k, contamination core, claims
trace      provenance, run and evaluation records, audit, explain    core, claims, analysis
native     the embedded engine (tokenizer ... trainer)   core, claims, trace
backends   paper scale: verl, vLLM, hub data and models  core, claims, trace
workflow   config checks, job server                     any layer
"""
