"""The audit's table comparison and the explain command's row selection (the whole chain is exercised
end to end in test_workflow)."""
from __future__ import annotations

import pandas as pd
import pytest

from alignrl.trace.audit import AuditFailed, Check, _table_differences, write_report
from alignrl.trace.explain import select_row

TABLE = pd.DataFrame({
    "model": ["A", "A"], "task": ["math", "math"], "bench": ["test", "test"], "claim": ["base", "gt"],
    "pass@1": [0.25, 0.5], "verdict": ["", "holds"],
})


def test_table_comparison_tolerates_csv_rounding_only():
    again = TABLE.copy()
    again.loc[1, "pass@1"] = 0.5000001  # below the 6 significant digits the CSV keeps
    assert _table_differences(TABLE, again) == []
    again.loc[1, "pass@1"] = 0.51
    diffs = _table_differences(TABLE, again)
    assert len(diffs) == 1 and "pass@1" in diffs[0] and "gt" in diffs[0]
    again = TABLE.copy()
    again.loc[1, "verdict"] = "fails"
    assert "verdict" in _table_differences(TABLE, again)[0]
    assert "rows" in _table_differences(TABLE, TABLE.iloc[:1])[0]


def test_report_lists_failures_first_and_raises(tmp_path):
    checks = [Check(True, "a.json", "sha256"), Check(False, "b.parquet", "sha256", "recorded x, found y")]
    with pytest.raises(AuditFailed, match="b.parquet"):
        write_report(checks, [tmp_path / "t.csv"], tmp_path / "audit.txt")
    lines = (tmp_path / "audit.txt").read_text().splitlines()
    assert lines[1] == "2 checks, 1 failed"
    assert lines[3].startswith("FAIL b.parquet") and lines[-1].startswith("OK   a.json")
    write_report(checks[:1], [tmp_path / "t.csv"], tmp_path / "audit.txt")  # passes quietly


def test_explain_row_selection():
    assert select_row(TABLE, "claim=gt")["pass@1"] == 0.5
    assert select_row(TABLE, "1")["claim"] == "gt"
    with pytest.raises(ValueError, match="matches 2 rows"):
        select_row(TABLE, "model=A")
    with pytest.raises(ValueError, match="no column 'seed'"):
        select_row(TABLE, "seed=0")
    with pytest.raises(ValueError, match="out of range"):
        select_row(TABLE, "7")
