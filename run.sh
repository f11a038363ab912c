#!/usr/bin/env bash
# Sets up .venv on first use, then runs Galatea: `./run.sh` starts the Discord bot,
# `./run.sh chat --user Alice` the console roleplay, `./run.sh --help` lists everything.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure-venv.sh
ensure_venv "postgres"
exec .venv/bin/python main.py "$@"
