"""bench.hostile_uploads runs: two cheap cases, each in its own process; no figure asserted."""

from __future__ import annotations

from bench.hostile_uploads import measure_uploads, render_table


def test_hostile_upload_cases_run_in_their_own_processes_and_are_refused() -> None:
    results = measure_uploads(["avatar_eps", "json_deep_nesting"])
    assert [r["case"] for r in results] == ["avatar_eps", "json_deep_nesting"]
    for result in results:
        assert "error" not in result, result
        assert result["outcome"].startswith("refused: ")
        assert result["peak_rss_mib"] > 0
    assert "| avatar_eps |" in render_table(results)
