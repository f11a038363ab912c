#!/usr/bin/env bash
# Creates .venv (Python 3.11+) and installs Galatea with at least the given extras. Sourced by
# run.sh and test.sh (and the Dockerfile), so every way in installs the same way.
#
# .venv/.galatea-installed records the pyproject.toml it installed from and the extras it has.
# Nothing is installed when that pyproject is current and the extras are already there, so
# switching between ./run.sh (postgres) and ./test.sh (postgres,test) installs once, not on
# every switch. When something must be installed, it is the union of what was there and what
# is asked for: one command never takes away what the other needs.
set -euo pipefail
ensure_venv() {
  local wanted="$1" root venv py stamp digest have="" current="" union missing extra
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  venv="$root/.venv"
  stamp="$venv/.galatea-installed"
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
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
  fi
  digest="$(sha256sum "$root/pyproject.toml" | cut -c1-16)"
  # The stamp is "DIGEST EXTRA,EXTRA"; an older one-field stamp counts as nothing installed.
  if [ -f "$stamp" ]; then
    have="$(cut -s -d' ' -f2 "$stamp")"
    [ "$(cut -d' ' -f1 "$stamp")" = "$digest" ] && current=yes
  fi
  missing=""
  for extra in ${wanted//,/ }; do
    case ",$have," in *",$extra,"*) ;; *) missing="$missing $extra" ;; esac
  done
  if [ -n "$current" ] && [ -z "$missing" ]; then return 0; fi
  union="$(printf '%s\n' ${have//,/ } ${wanted//,/ } | sort -u | paste -sd, -)"
  echo "Installing Galatea and its dependencies into .venv ($union) ..." >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$root[$union]" >&2
  echo "$digest $union" > "$stamp"
}
