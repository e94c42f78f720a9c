#!/usr/bin/env bash
# Set up everything the tests need, check the code, then run the whole suite (all tiers; none is
# skipped). pytest arguments pass through: `bash tests/run.sh -m tier0` runs the pure tests only.
#   bash tests/run.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --tests
echo "tests/run.sh: ruff check" >&2
python3 -m ruff check .
echo "tests/run.sh: mypy" >&2
python3 -m mypy
exec python3 -m pytest "$@"
