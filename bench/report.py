"""Markdown tables from a results dictionary (the same one written as JSON)."""

from __future__ import annotations

import math
from typing import Any

TARGET_OWN_MS = 5.0
TARGET_HTTP_MS = 10.0
TARGET_ONLY_NEW_SHARE = 0.90
TARGET_GENERATION_RATIO = 0.90  # within 10% of llama-cpp-python
TARGET_DISCORD_CHANNELS = "8"
TARGET_DISCORD_FIRST_TEXT_P50 = 2.0  # seconds, on a GPU
TARGET_DISCORD_FIRST_TEXT_P95 = 5.0


def _n(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def _pct(value: Any) -> str:
    return "—" if value is None else f"{100 * value:.0f}%"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _local_rows(local: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, result in local.items():
        raw = result.get("raw", {})
        prompt = raw.get("prompt", {})
        rows.append(
            [
                name,
                _n(result.get("load_seconds"), 2),
                _n(prompt.get("512", {}).get("tokens_per_second")),
                _n(prompt.get("2048", {}).get("tokens_per_second")),
                _n(prompt.get("512", {}).get("time_to_first_token"), 2),
                _n(raw.get("generation", {}).get("tokens_per_second")),
                _n(result.get("peak_rss_mib"), 0),
                _n(result.get("vram_used_mib"), 0),
            ]
        )
    return rows


def _reuse_rows(local: dict[str, Any], part: str = "reuse") -> list[list[str]]:
    rows = []
    for name, result in local.items():
        for run, summary in result.get(part, {}).items():
            rows.append(
                [
                    name,
                    run.replace("_", " "),
                    str(summary["turns"]),
                    _pct(summary["only_new_share"]),
                    _n(summary["mean_prompt_tokens"], 0),
                    _n(summary["mean_new_tokens"], 0),
                    _n(summary["mean_evaluated_tokens"], 0),
                    _n(summary["mean_stable_prefix_tokens"], 0),
                ]
            )
    return rows


def _ratio(local: dict[str, Any], name: str, key: str, size: str | None) -> float | None:
    def speed(backend: str) -> float | None:
        raw = local.get(backend, {}).get("raw", {})
        value = raw.get("prompt", {}).get(size, {}) if size else raw.get("generation", {})
        return value.get("tokens_per_second") if value else None

    mine, reference = speed(name), speed("llama-cpp")
    return mine / reference if mine and reference else None


def _targets(results: dict[str, Any]) -> list[list[str]]:
    rows: list[list[str]] = []
    for key, label in (
        ("own_work", "bot's own work per turn, 10k messages, engine (p95)"),
        ("own_work_channel", "bot's own work per turn, 10k messages, Discord path (p95)"),
    ):
        own = results.get(key, {})
        if own:
            met = own["own_ms_p95"] < TARGET_OWN_MS
            rows.append(
                [
                    label,
                    f"< {TARGET_OWN_MS} ms",
                    f"{own['own_ms_p95']:.2f} ms (p50 {own['own_ms_p50']:.2f})",
                    "yes" if met else "no",
                ]
            )
    http = results.get("http", {}).get("fake_server", {}).get("per_request")
    if http:
        met = http["request_ms_p95"] < TARGET_HTTP_MS
        rows.append(
            [
                "HTTP overhead per request (p95)",
                f"< {TARGET_HTTP_MS} ms",
                f"{http['request_ms_p95']:.2f} ms (p50 {http['request_ms_p50']:.2f})",
                "yes" if met else "no",
            ]
        )
    rows += _discord_target(results.get("discord_path", {}))
    lore = results.get("lore_scan")
    if lore:
        stall = max(lore["cold_loop_stall_ms"], lore["warm_loop_stall_ms_max"])
        rows.append(
            [
                "lorebook at the import limits, full window: scan (p95)",
                "< 20 ms",
                f"{lore['warm_ms_p95']:.2f} ms (p50 {lore['warm_ms_p50']:.2f})",
                "yes" if lore["warm_ms_p95"] < 20 else "no",
            ]
        )
        rows.append(
            [
                "the same: longest event-loop stall, first scan included",
                "< 100 ms",
                f"{stall:.1f} ms",
                "yes" if stall < 100 else "no",
            ]
        )
    local = results.get("local", {})
    runs = [
        (name, run, summary)
        for part, key in (("local", "reuse"), ("slide", "slide"))
        for name, result in results.get(part, {}).items()
        for run, summary in result.get(key, {}).items()
    ]
    for name, run, summary in runs:
        share = summary.get("only_new_share")
        rows.append(
            [
                f"{name}: only new tokens evaluated, {run.replace('_', ' ')}",
                f">= {TARGET_ONLY_NEW_SHARE:.0%} of turns",
                _pct(share),
                "—" if share is None else ("yes" if share >= TARGET_ONLY_NEW_SHARE else "no"),
            ]
        )
    for name in local:
        if name != "llama-cpp":
            generation = _ratio(local, name, "generation", None)
            rows.append(
                [
                    f"{name} generation vs llama-cpp-python",
                    "within 10%",
                    _n(generation, 2) + "x",
                    "—"
                    if generation is None
                    else ("yes" if generation >= TARGET_GENERATION_RATIO else "no"),
                ]
            )
            for size in ("512", "2048"):
                prompt = _ratio(local, name, "prompt", size)
                if prompt is not None:
                    rows.append(
                        [
                            f"{name} prompt processing vs llama-cpp-python, {size} tokens",
                            "ratio reported",
                            f"{prompt:.2f}x",
                            "—",
                        ]
                    )
    return rows


def _discord_target(discord: dict[str, Any]) -> list[list[str]]:
    """The GPU target for the Discord path; met or not is only meaningful with GPU offload."""
    figures = discord.get("channels", {}).get(TARGET_DISCORD_CHANNELS)
    if not figures:
        return []
    first_p50, first_p95 = figures["first_text_p50"], figures["first_text_p95"]
    met = (
        first_p50 is not None
        and first_p95 is not None
        and figures["failures"] == 0
        and first_p50 <= TARGET_DISCORD_FIRST_TEXT_P50
        and first_p95 <= TARGET_DISCORD_FIRST_TEXT_P95
    )
    verdict = "yes" if met else "no"
    if not discord.get("gpu_offload"):
        verdict += " (no GPU offload: not the target's setting)"
    return [
        [
            f"GPU: first visible text in Discord with {TARGET_DISCORD_CHANNELS} channels",
            f"≤ {TARGET_DISCORD_FIRST_TEXT_P50:g} s p50, ≤ {TARGET_DISCORD_FIRST_TEXT_P95:g} s p95",
            f"p50 {_n(first_p50, 2)} s, p95 {_n(first_p95, 2)} s "
            f"({figures['replies']} of {figures['messages']} replies)",
            verdict,
        ]
    ]


def _discord_lines(discord: dict[str, Any]) -> list[str]:
    if discord.get("error"):
        return [
            "## Time to first visible text in Discord",
            "",
            f"Not measured: {discord['error']}.",
            "",
        ]
    lines = [
        f"## Time to first visible text in Discord ({discord['backend']}, "
        f"{discord['reply_tokens']} new tokens per reply)",
        "",
        "Member's message dispatched → the character's reply first shows text in the channel "
        "(first text) and → its final edit (complete); the real bot through the Discord "
        "emulation.",
        "",
    ]
    rows = [
        [
            key,
            str(s["rounds"]),
            str(s["replies"]),
            str(s["failures"]),
            _n(s["first_text_p50"], 2),
            _n(s["first_text_p95"], 2),
            _n(s["first_text_max"], 2),
            _n(s["complete_p50"], 2),
            _n(s["complete_p95"], 2),
            _n(s["longest_wait"], 2),
        ]
        for key, s in discord.get("channels", {}).items()
    ]
    header = ["channels", "rounds", "replies", "failures", "first text p50 s", "p95 s", "max s"]
    lines += _table([*header, "complete p50 s", "p95 s", "longest wait s"], rows)
    warm = discord.get("warm_up")
    if warm:
        lines += [
            f"Before these, one warm-up reply in a channel of its own (not counted): first text "
            f"after {_n(warm['first_text_max'], 2)} s, complete after "
            f"{_n(warm['complete_max'], 2)} s.",
            "",
        ]
    return lines


def _lore_lines(lore: dict[str, Any]) -> list[str]:
    lines = [
        f"## Lorebook scan: {lore['entries']:,} entries, {lore['keys']:,} keys, against "
        f"{lore['window_messages']} messages ({lore['window_chars']:,} characters)",
        "",
    ]
    return lines + _table(
        ["what", "time ms", "longest event-loop stall ms"],
        [
            ["first scan (compiles the book)", _n(lore["cold_ms"]), _n(lore["cold_loop_stall_ms"])],
            [
                f"later scans, p50 / p95 / max of {lore['rounds']}",
                f"{_n(lore['warm_ms_p50'], 2)} / {_n(lore['warm_ms_p95'], 2)} / "
                f"{_n(lore['warm_ms_max'], 2)}",
                _n(lore["warm_loop_stall_ms_max"]),
            ],
        ],
    )


def render_markdown(results: dict[str, Any]) -> str:
    machine = results["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in machine["packages"].items())
    lines = [
        f"# Galatea benchmark ({results['mode']})",
        "",
        f"- Machine: {machine['cpu']}, {machine['cpu_count']} CPUs, {machine['memory_gib']} GiB,"
        f" GPU: {machine['gpu'] or 'none'}; Python {machine['python']}",
        f"- Packages: {packages}",
        f"- Model: {results['model']['file']} ({results['model']['parameters_b']:.2f} B "
        f"parameters, Q4_0, {results['model']['mib']:.0f} MiB, random weights)",
        f"- Load average at start {machine['load_average_at_start']}, at end "
        f"{results.get('load_average_at_end')}",
        f"- Wall time: {results['wall_seconds']:.0f} s",
        "",
    ]
    lines += ["## Targets", ""]
    lines += _table(["what", "target", "measured", "met"], _targets(results))
    local = results.get("local", {})
    if local:
        lines += ["## Local backends, same file", ""]
        lines += _table(
            [
                "backend",
                "load s",
                "prompt tok/s @512",
                "prompt tok/s @2048",
                "TTFT @512 s",
                "generation tok/s",
                "peak RSS MiB",
                "VRAM MiB",
            ],
            _local_rows(local),
        )
        lines += ["### Tokens evaluated per chat turn (prefix reuse)", ""]
        lines += _table(
            ["backend", "run", "turns", "only new", "prompt", "new", "evaluated", "stable prefix"],
            _reuse_rows(local),
        )
    slide = results.get("slide")
    if slide:
        lines += ["### While the window slides (small model, 2,048-token context)", ""]
        lines += _table(
            ["backend", "run", "turns", "only new", "prompt", "new", "evaluated", "stable prefix"],
            _reuse_rows(slide, "slide"),
        )
    reply = results.get("reply_path")
    if reply:
        lines += [
            f"## Whole reply path through the core ({reply['backend']}, "
            f"{reply['reply_tokens']} new tokens per reply)",
            "",
        ]
        rows = [
            [
                key,
                str(s["replies"]),
                _n(s["latency_p50"], 2),
                _n(s["latency_p95"], 2),
                _n(s["first_text_p50"], 2),
                _n(s["first_text_p95"], 2),
                _n(s["aggregate_tokens_per_second"]),
                _n(s["longest_wait_for_first_text"], 2),
                _pct(s["reuse"]["only_new_share"]),
            ]
            for key, s in reply["channels"].items()
        ]
        lines += _table(
            [
                "channels",
                "replies",
                "latency p50 s",
                "p95 s",
                "first text p50 s",
                "p95 s",
                "tokens/s (all)",
                "longest wait s",
                "only new",
            ],
            rows,
        )
    discord = results.get("discord_path")
    if discord:
        lines += _discord_lines(discord)
    lore = results.get("lore_scan")
    if lore:
        lines += _lore_lines(lore)
    own = results.get("own_work")
    http = results.get("http", {})
    rows = []
    for label, data in (
        ("instant backend", own),
        (
            "OpenAI backend, loopback instant server",
            http.get("fake_server", {}).get("per_turn_with_10k_messages"),
        ),
    ):
        if data:
            rows.append(
                [
                    label,
                    data["tokenizer"],
                    str(data["turns"]),
                    _n(data["own_ms_p50"], 2),
                    _n(data["own_ms_p95"], 2),
                    _n(data["store_message_ms_p50"], 2),
                    _n(data["reply_without_model_ms_p50"], 2),
                    _n(data["model_or_server_ms_p50"], 2),
                ]
            )
    if rows:
        lines += ["## The bot's own work per turn, 10,000 messages in the channel", ""]
        lines += _table(
            [
                "backend",
                "token counts",
                "turns",
                "own ms p50",
                "own ms p95",
                "store message ms p50",
                "reply minus model ms p50",
                "model/server ms p50",
            ],
            rows,
        )
    per_request = http.get("fake_server", {}).get("per_request")
    if per_request:
        lines += ["## HTTP overhead per request (instant loopback server)", ""]
        lines += _table(
            ["requests", "prompt chars", "p50 ms", "p95 ms"],
            [
                [
                    str(per_request["requests"]),
                    str(per_request["prompt_chars"]),
                    _n(per_request["request_ms_p50"], 2),
                    _n(per_request["request_ms_p95"], 2),
                ]
            ],
        )
    real = http.get("real_server")
    if real:
        lines += ["## Real OpenAI-compatible server", ""]
        if real.get("measured"):
            lines += _table(
                ["server", "replies", "latency p50 s", "p95 s", "first text p50 s"],
                [
                    [
                        real["server"],
                        str(real["replies"]),
                        _n(real["latency_p50"], 2),
                        _n(real["latency_p95"], 2),
                        _n(real["first_text_p50"], 2),
                    ]
                ],
            )
        else:
            lines += [f"Not measured: {real['reason']}.", ""]
    return "\n".join(lines)
