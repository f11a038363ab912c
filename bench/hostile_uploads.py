"""What a hostile upload costs: character cards and avatar images built to exhaust memory.

    .venv/bin/python -m bench uploads          # about half a minute; no model needed

Each case runs in a fresh subprocess (``python -m bench.hostile_uploads --case NAME FILE``)
so that its peak RSS is its own: the worker imports everything, reads the file, then does
what the bot does with such an upload (``parse_card`` for a card; ``normalize_avatar`` for an
avatar, as ``/character create avatar_url:`` and ``/character edit`` do; for a card also the
avatar made from its image, as ``/character import`` does). It reports:

* ``peak_rss_mib``: the process's peak RSS (VmHWM; ``ru_maxrss`` where /proc is missing, but
  Linux hands a child its parent's ``ru_maxrss``), Python and every library included;
* ``extra_rss_mib``: that peak minus the RSS just before the upload was handled (after
  imports and after reading the file), i.e. what handling the upload cost;
* ``seconds`` and ``outcome`` (``accepted`` or the start of the refusal).

Targets (issue 16): every refused card under 300 MB peak RSS and 2 s; any avatar or card image
under 150 MB extra RSS.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from testkit.png_files import chunk, raw_png, zlib_bomb

REPO_ROOT = Path(__file__).resolve().parents[1]
CASE_TIMEOUT_SECONDS = 120
MIB = 1024 * 1024


# --- building the hostile files -------------------------------------------------------------


def _tiny_png(*extra: bytes, width: int = 4, height: int = 4) -> bytes:
    rows = zlib.compress(b"\0" * min(width + 1, 4096) * min(height, 4))
    return raw_png(width, height, *extra, idat=rows)


def _just_under_limit_json(filler: bytes) -> bytes:
    """Card JSON of almost 16 MiB (the card JSON limit) whose extensions repeat ``filler``."""
    head, tail = b'{"name":"Bomb","description":"x","extensions":{"a":[', b"0]}}"
    count = (16 * MIB - 1024 - len(head) - len(tail)) // len(filler)
    return head + filler * count + tail


def _ztxt(keyword: bytes, text: bytes) -> bytes:
    return chunk(b"zTXt", keyword + b"\0\0" + zlib.compress(text, 9))


def _image(fmt: str, size: tuple[int, int], mode: str = "RGB") -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new(mode, size, "white")
    draw = ImageDraw.Draw(img)
    for i in range(0, size[0], 97):  # some structure, still compressible
        draw.line((i, 0, size[0] - i, size[1]), fill="black", width=3)
    out = io.BytesIO()
    if fmt == "PNG":
        img.save(out, format=fmt, compress_level=9)
    else:
        img.save(out, format=fmt, quality=80) if fmt in ("JPEG", "WEBP") else img.save(out, fmt)
    return out.getvalue()


def _card_png_of_size(size: tuple[int, int]) -> bytes:
    from PIL import PngImagePlugin

    png = _image("PNG", size, "RGBA")
    document = {"spec": "chara_card_v2", "spec_version": "2.0", "data": {"name": "Big"}}
    info = PngImagePlugin.PngInfo()
    info.add_text("chara", base64.b64encode(json.dumps(document).encode()).decode())
    from PIL import Image

    with Image.open(io.BytesIO(png)) as img:
        img.load()
        out = io.BytesIO()
        img.save(out, format="PNG", pnginfo=info, compress_level=9)
    return out.getvalue()


def _charx(card_json: bytes, *, repeat: int = 1, extra: dict[str, bytes] | None = None) -> bytes:
    """A CHARX whose card.json is ``card_json`` written ``repeat`` times (a zip bomb, written
    in pieces so the bench itself never holds it whole)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("card.json", "w", force_zip64=True) as member:
            for _ in range(repeat):
                member.write(card_json)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return out.getvalue()


def _eps() -> bytes:
    return b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 6300 6300\nshowpage\n"


CARD_CASES: dict[str, Callable[[], bytes]] = {
    # The file: a ~22 KB PNG whose zTXt inflates to 16 MiB of JSON (empty lists).
    "png_ztxt_16mib_json": lambda: _tiny_png(_ztxt(b"chara", _just_under_limit_json(b"[],"))),
    "png_ztxt_1gib_zeros": lambda: _tiny_png(chunk(b"zTXt", b"chara\0\0" + zlib_bomb(1024))),
    "png_ztxt_huge_base64": lambda: _tiny_png(_ztxt(b"chara", b"QUFB" * (6 * MIB))),
    "json_16mib_empty_objects": lambda: _just_under_limit_json(b"{},"),
    "json_16mib_numbers": lambda: _just_under_limit_json(b"1,"),
    "json_16mib_short_strings": lambda: _just_under_limit_json(b'"ab",'),
    "json_16mib_one_string": lambda: (
        b'{"name":"Bomb","description":"' + b"x" * (16 * MIB - 64) + b'"}'
    ),
    # One emoji makes Python store every character of the text in 4 bytes.
    "json_16mib_one_string_with_an_emoji": lambda: (
        '{"name":"Bomb","description":"\U0001f600'.encode() + b"x" * (16 * MIB - 64) + b'"}'
    ),
    "json_deep_nesting": lambda: (
        b'{"name":"Bomb","extensions":' + b'{"a":' * 200_000 + b"1" + b"}" * 200_001
    ),
    "json_many_entries": lambda: json.dumps(
        {
            "spec": "chara_card_v2",
            "spec_version": "2.0",
            "data": {"name": "Bomb", "character_book": {"entries": [{}] * 250_000}},
        }
    ).encode(),
    # Not hostile: the largest lorebook that is accepted (1,000 entries, ~290,000 values).
    "json_largest_accepted_book": lambda: json.dumps(
        {
            "spec": "chara_card_v2",
            "spec_version": "2.0",
            "data": {
                "name": "Big book",
                "description": "A card at the limits.",
                "character_book": {
                    "entries": [
                        {"keys": [f"k{e}-{k}" for k in range(280)], "content": "x" * 2000}
                        for e in range(1000)
                    ]
                },
            },
        }
    ).encode(),
    "charx_1gib_card_json": lambda: _charx(b" " * MIB, repeat=1024),
    "charx_many_files": lambda: _charx(b"{}", extra={f"assets/x/{i}": b"" for i in range(5000)}),
}

IMAGE_CASES: dict[str, Callable[[], bytes]] = {
    # The file: a small PNG claiming 6300×6300 pixels, refused from its header.
    "avatar_png_6300px": lambda: _image("PNG", (6300, 6300), "L"),
    "avatar_png_4096px_rgba": lambda: _image("PNG", (4096, 4096), "RGBA"),
    # The largest accepted of each format.
    "avatar_png_2048x4096_rgba": lambda: _image("PNG", (2048, 4096), "RGBA"),
    "avatar_webp_2048x4096": lambda: _image("WEBP", (2048, 4096)),
    "avatar_webp_2048x4096_rgba": lambda: _image("WEBP", (2048, 4096), "RGBA"),
    "avatar_gif_2048x4096": lambda: _image("GIF", (2048, 4096), "P"),
    "avatar_jpeg_6000x4000": lambda: _image("JPEG", (6000, 4000)),
    "avatar_eps": _eps,
    "card_png_2048x4096_rgba": lambda: _card_png_of_size((2048, 4096)),
}


# --- measuring one case (in the worker process) ---------------------------------------------


def _status_mib(field: str) -> float | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        return None
    return None


def _current_rss_mib() -> float:
    return _status_mib("VmRSS") or 0.0


def _peak_rss_mib() -> float:
    """Peak RSS of this process. ``ru_maxrss`` would do, but Linux carries the parent's
    high-water mark into a forked-and-exec'd child, so VmHWM (per address space) is read
    where /proc has it."""
    hwm = _status_mib("VmHWM")
    if hwm is not None:
        return hwm
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _reset_peak() -> None:
    """Start the peak afresh, so it measures the upload alone (Linux: clear_refs 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        pass  # the peak then includes start-up; the report says so through baseline_peak


def _handle(case: str, data: bytes) -> str:
    from bot.cards import parse_card
    from bot.common.images import normalize_avatar

    if case.startswith("avatar_"):
        normalize_avatar(data)
        return "accepted"
    card = parse_card(data, f"{case}.charx" if case.startswith("charx") else None)
    if card.avatar_png is not None:
        normalize_avatar(card.avatar_png, max_bytes=len(card.avatar_png))
    return "accepted"


def measure_case(case: str, path: Path) -> dict[str, Any]:
    from bot.cards import parse_card  # noqa: F401 - imported before the baseline
    from bot.common.images import normalize_avatar  # noqa: F401
    from bot.errors import InvalidInput

    data = path.read_bytes()
    baseline_peak = _peak_rss_mib()
    before = _current_rss_mib()
    _reset_peak()
    started = time.perf_counter()
    try:
        outcome = _handle(case, data)
    except InvalidInput as exc:
        outcome = "refused: " + exc.user_message[:90]
    seconds = time.perf_counter() - started
    upload_peak = _peak_rss_mib()
    peak = max(upload_peak, baseline_peak)
    return {
        "case": case,
        "file_kib": round(len(data) / 1024, 1),
        "outcome": outcome,
        "seconds": round(seconds, 3),
        "peak_rss_mib": round(peak, 1),
        "extra_rss_mib": round(max(0.0, upload_peak - before), 1),
        "baseline_peak_mib": round(baseline_peak, 1),
    }


# --- the driver -----------------------------------------------------------------------------


def measure_uploads(cases: list[str] | None = None) -> list[dict[str, Any]]:
    """Every case (or the named ones), each in a subprocess of its own."""
    builders = {**CARD_CASES, **IMAGE_CASES}
    chosen = cases or list(builders)
    results = []
    with tempfile.TemporaryDirectory(prefix="galatea-uploads-") as folder:
        for case in chosen:
            path = Path(folder) / case
            path.write_bytes(builders[case]())
            completed = subprocess.run(
                [sys.executable, "-m", "bench.hostile_uploads", "--case", case, str(path)],
                capture_output=True,
                text=True,
                timeout=CASE_TIMEOUT_SECONDS,
                check=False,
                cwd=REPO_ROOT,
            )
            if completed.returncode != 0:
                results.append({"case": case, "error": completed.stderr[-2000:]})
                continue
            results.append(json.loads(completed.stdout.strip().splitlines()[-1]))
            path.unlink()
    return results


def render_table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| case | file | outcome | time | peak RSS | extra RSS |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['case']} | | worker failed | | | |")
            continue
        lines.append(
            f"| {r['case']} | {r['file_kib']:,.1f} KiB | {r['outcome'][:60]} | "
            f"{r['seconds']:.2f} s | {r['peak_rss_mib']:.0f} MiB | {r['extra_rss_mib']:.0f} MiB |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.hostile_uploads")
    parser.add_argument("--case", help="worker mode: measure one case on FILE")
    parser.add_argument("file", nargs="?")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(measure_case(args.case, Path(args.file))))
        return
    results = measure_uploads()
    print(render_table(results))


if __name__ == "__main__":
    main()
