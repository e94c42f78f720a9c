#!/usr/bin/env bash
# Set up everything the tests need, then run the whole suite (all tiers; none is skipped).
#   bash tests/run.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --tests
exec python3 -m pytest "$@"
