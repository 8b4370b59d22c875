#!/usr/bin/env bash
# Installs what the project needs on a fresh machine of this kind: uv, then the locked workspace.
# Java, Maven and Go come with the machine; `crm-stack up` checks them and says what is missing.
set -euo pipefail
export UV_PYTHON_DOWNLOADS=never
export PATH="$HOME/.local/bin:$PATH"
cd "$(dirname "$0")/../.."
if ! command -v uv >/dev/null 2>&1; then
  echo "installing uv from PyPI..."
  python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
fi
uv sync --frozen --all-packages --quiet
