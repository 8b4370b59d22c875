#!/usr/bin/env bash
# Installs what the project needs on a fresh machine of this kind: uv, then the locked workspace.
# Java, Maven and Go come with the machine; `crm-stack up` checks them and says what is missing.
set -euo pipefail
export UV_PYTHON_DOWNLOADS=never
PY_SCRIPTS=$(python3 -c "import sysconfig; print(sysconfig.get_path('scripts'))" 2>/dev/null || true)
export PATH="$HOME/.local/bin:${PY_SCRIPTS:+$PY_SCRIPTS:}$PATH"
cd "$(dirname "$0")/../.."
if ! command -v uv >/dev/null 2>&1; then
  echo "installing uv from PyPI..."
  python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
  hash -r
  command -v uv >/dev/null 2>&1 || { echo "uv was installed but is not on PATH ($PATH)" >&2; exit 1; }
fi
uv sync --frozen --all-packages --quiet
