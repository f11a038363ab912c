"""cogs/uploads.py: every file within the limit, and nothing lost on the way."""

from __future__ import annotations

import gzip
import os

import pytest

from cogs.uploads import MAX_PARTS, TooLargeToUpload, Upload, batches, fit_uploads


def test_files_within_the_limit_are_left_alone() -> None:
    files = [Upload("a.txt", b"x" * 100)]
    assert fit_uploads(files, 100) == (files, False)


def test_a_text_over_the_limit_is_compressed_when_that_is_enough() -> None:
    data = b"The same line again.\n" * 10_000
    [packed], changed = fit_uploads([Upload("log.txt", data)], 64 * 1024)
    assert changed and packed.filename == "log.txt.gz" and len(packed.data) <= 64 * 1024
    assert gzip.decompress(packed.data) == data


def test_what_does_not_compress_enough_is_cut_at_line_ends_into_numbered_parts() -> None:
    data = b"\n".join(os.urandom(40).hex().encode() for _ in range(500))
    parts, _ = fit_uploads([Upload("log.txt", data)], 8 * 1024)
    assert all(len(p.data) <= 8 * 1024 for p in parts)
    assert [p.filename for p in parts][:2] == [
        f"log.part1of{len(parts)}.txt",
        f"log.part2of{len(parts)}.txt",
    ]
    assert b"".join(p.data for p in parts) == data
    assert all(p.data.endswith(b"\n") for p in parts[:-1])
    assert sum(len(b) for b in batches(parts)) == len(parts) and max(map(len, batches(parts))) <= 10


def test_past_the_bounded_number_of_parts_it_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(TooLargeToUpload):
        fit_uploads([Upload("big.bin", os.urandom(1024 * (MAX_PARTS + 1)))], 1024)
