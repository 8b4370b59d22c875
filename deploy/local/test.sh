#!/usr/bin/env bash
# `make test`: lint, start the local stack unless it already runs, run every test, and stop
# what this script started. Fails if the stack cannot start; never passes with no tests.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$(dirname "$0")/../.."
RUN="uv run --frozen"

echo "== lint"
$RUN ruff check .
$RUN ruff format --check .
$RUN mypy

started=0
if ! $RUN crm-stack status >/dev/null 2>&1; then
  echo "== starting the local stack"
  $RUN crm-stack up
  started=1
fi
cleanup() { if [ "$started" = 1 ]; then echo "== stopping the local stack"; $RUN crm-stack down || true; fi; }
trap cleanup EXIT
eval "$($RUN crm-stack env)"

echo "== tests"
set +e
$RUN pytest "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi
exit "$rc"
