#!/usr/bin/env bash
# Sets up .venv with the test tools on first use, then runs the whole test suite.
# Extra arguments go to pytest, e.g. `./test.sh -k prompt -x`.
set -uo pipefail
cd "$(dirname "$0")"
source scripts/ensure-venv.sh
ensure_venv "postgres,test"
.venv/bin/python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: treating that as a failure." >&2
  exit 1
fi
exit "$rc"
