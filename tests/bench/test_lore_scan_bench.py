"""The lorebook benchmark runs and reports (a small book here; speed lives in bench/)."""

from __future__ import annotations

from bench.lore_scan import measure_lore_scan
from tests.bench.reports import report_with


async def test_the_lore_scan_benchmark_measures_scans_and_loop_stalls_and_reports_them() -> None:
    result = await measure_lore_scan(rounds=2, entries=50, keys=20)
    assert result["entries"] == 50 and result["rounds"] == 2
    assert result["warm_ms_p50"] > 0 and result["cold_loop_stall_ms"] >= 0
    report = report_with(lore_scan=result)
    assert "lorebook at the import limits, full window: scan (p95)" in report
    assert "## Lorebook scan: 50 entries" in report
