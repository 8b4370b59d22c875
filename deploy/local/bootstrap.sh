#!/usr/bin/env bash
# Installs what the project needs on a fresh machine of this kind: uv, then the locked workspace.
# Java, Maven and Go come with the machine; `crm-stack up` checks them and says what is missing.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$(dirname "$0")/../.."
if ! command -v uv >/dev/null 2>&1; then
  echo "installing uv from PyPI..."
  python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
  hash -r
  command -v uv >/dev/null 2>&1 || { echo "uv was installed but is not on PATH ($PATH)" >&2; exit 1; }
fi
uv sync --frozen --all-packages --quiet
# The campaigns browser tests drive Debian's Chromium through Playwright (never a browser
# build of Playwright's own). Installed when missing; a machine that cannot reach the package
# mirror still bootstraps, and those tests then fail saying Chromium is missing.
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser tests..."
  { timeout 600 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq \
      --no-install-recommends chromium; } >/dev/null 2>&1 \
    || echo "could not install chromium (no package mirror?); the browser tests will fail" >&2
fi
