"""The console chat in a real pseudo-terminal: arrow keys edit the line and recall history
(readline), instead of landing in the story as escape codes; log lines stay out of it."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEFT, UP = b"\x1b[D", b"\x1b[A"


class Terminal:
    """A child process on the slave side of a pty; we type and read on the master side."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self._master, slave = pty.openpty()
        self.process = subprocess.Popen(
            args,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        os.close(slave)
        self.screen = b""

    def expect(self, text: str, times: int = 1, timeout: float = 60) -> None:
        """Wait until ``text`` has appeared ``times`` times on the screen."""
        deadline = time.monotonic() + timeout
        while self.screen.count(text.encode()) < times:
            left = deadline - time.monotonic()
            assert left > 0, (
                f"never saw {text!r}; the screen:\n{self.screen.decode(errors='replace')}"
            )
            ready, _, _ = select.select([self._master], [], [], left)
            if ready:
                try:
                    self.screen += os.read(self._master, 4096)
                except OSError:  # the child closed the terminal
                    break

    def type(self, keys: bytes) -> None:
        os.write(self._master, keys)

    def close(self) -> int:
        try:
            return self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            os.close(self._master)


def test_arrow_keys_edit_the_line_and_recall_history(tmp_path: Path, tiny_model_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MODEL", "DATABASE_", "LOG_"))},
        "TERM": "xterm",
        "MODEL": str(tiny_model_path),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}",
    }
    term = Terminal(
        [sys.executable, str(ROOT / "main.py"), "chat", "--user", "Alice"], env, tmp_path
    )
    try:
        term.expect("Name: ")
        term.type(b"Aqa" + LEFT + b"u\r")  # typed "Aqa", moved left, inserted "u": "Aqua"
        term.expect("Persona (a few sentences): ")
        term.type(b"A goddess.\r")
        term.expect("Greeting (optional): ")
        term.type(b"\r")
        term.expect("Scenario (optional): ")
        term.type(b"\r")
        term.expect("Alice> ")
        term.type(b"/user Bob\r")
        term.expect("Bob> ")
        term.type(UP + b"\r")  # the previous line again: "/user Bob"
        term.expect("Bob> ", times=2)
        term.type(b"/quit\r")
        code = term.close()
    finally:
        if term.process.poll() is None:
            term.process.kill()
    screen = term.screen.decode(errors="replace")
    assert code == 0, screen
    assert "Talking with Aqua as Alice." in screen
    assert screen.count("Now speaking as Bob.") == 2, screen
    assert "\x1b[D" not in screen.split("Talking with")[1]  # no escape code reached the story
    assert " INFO " not in screen  # log lines stay out of the conversation
