"""From per-sample outputs to tables: claims tables, verdicts, the dial, large k, contamination."""
