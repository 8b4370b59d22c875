# Sourced by bootstrap.sh and test.sh (the Makefile does the same in make): uv wherever
# bootstrap.sh installs it, never a Python download, and the interpreter python.sh chooses.
export UV_PYTHON_DOWNLOADS=never
PY_SCRIPTS=$(python3 -c "import sysconfig; print(sysconfig.get_path('scripts'))" 2>/dev/null || true)
export PATH="$HOME/.local/bin:${PY_SCRIPTS:+$PY_SCRIPTS:}$PATH"
CRM_PYTHON=$(bash "$(dirname "${BASH_SOURCE[0]}")/python.sh")
if [ -n "$CRM_PYTHON" ]; then export UV_PYTHON="$CRM_PYTHON"; fi
