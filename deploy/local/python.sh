#!/usr/bin/env bash
# Prints the Python interpreter the workspace's environment is made with, or nothing to let uv
# find one on PATH (decision 0082): the one the caller chose in UV_PYTHON; else the operating
# system's own /usr/bin/python3 when it is 3.11 or newer, since distributions build theirs with
# profile-guided and link-time optimisation (as the deploy image's python:3.11 is built), while a
# version manager's default build (pyenv's, first on this machine kind's PATH) is not, and runs
# the services' code with 8-12 % more CPU.
# CRM_SYSTEM_PYTHON names the system's interpreter where it is not /usr/bin/python3.
set -euo pipefail
system=${CRM_SYSTEM_PYTHON:-/usr/bin/python3}
if [ -n "${UV_PYTHON:-}" ]; then
  echo "$UV_PYTHON"
elif [ -x "$system" ] && "$system" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "$system"
fi
