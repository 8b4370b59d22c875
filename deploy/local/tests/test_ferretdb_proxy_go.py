"""The Go unit tests of the write-serializing proxy in front of FerretDB (deploy/local/ferretdb)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

FERRETDB_SRC = Path(__file__).resolve().parents[1] / "ferretdb"


def test_the_proxy_go_tests_pass() -> None:
    go = shutil.which("go")
    assert go is not None, "go is needed to build the local FerretDB; install Go 1.22 or newer"
    result = subprocess.run(
        [go, "test", "-count=1", "./..."],
        cwd=FERRETDB_SRC,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok" in result.stdout
