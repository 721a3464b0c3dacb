"""Where each number comes from: provenance, the records every engine writes, audit, explain."""
