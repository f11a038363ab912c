#!/usr/bin/env bash
# Creates .venv (Python 3.11+) and installs Galatea with the given extras; reinstalls only when
# pyproject.toml or the extras changed. Sourced by run.sh and test.sh.
set -euo pipefail
ensure_venv() {
  local extras="$1" root venv py stamp want
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  venv="$root/.venv"
  if [ ! -x "$venv/bin/python" ]; then
    py=""
    for candidate in python3.13 python3.12 python3.11 python3; do
      if command -v "$candidate" >/dev/null 2>&1 &&
         "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        py="$candidate"; break
      fi
    done
    [ -n "$py" ] || { echo "Galatea needs Python 3.11 or newer; none found on PATH." >&2; exit 2; }
    echo "Creating .venv with $py ..." >&2
    "$py" -m venv "$venv"
  fi
  stamp="$venv/.galatea-installed"
  want="$(cat "$root/pyproject.toml" | sha256sum | cut -c1-16)-$extras"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "Installing Galatea and its dependencies into .venv ($extras) ..." >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$root[$extras]" >&2
    echo "$want" > "$stamp"
  fi
}
