"""The logs of the processes crm-stack starts are moved aside at a start once they are large."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from crm_stack.proc import rotate_log, start_detached

pytestmark = pytest.mark.timeout(30)


def test_a_small_log_is_kept_and_a_missing_one_is_fine(tmp_path: Path) -> None:
    log = tmp_path / "mongod.log"
    assert rotate_log(log, limit=10) is False
    log.write_bytes(b"123456789")
    assert rotate_log(log, limit=10) is False
    assert log.read_bytes() == b"123456789"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mongod.log"]


def test_a_large_log_moves_aside_and_the_oldest_is_dropped(tmp_path: Path) -> None:
    log = tmp_path / "mongod.log"
    for name, text in [("mongod.log.1", "one"), ("mongod.log.2", "two"), ("mongod.log.3", "3")]:
        (tmp_path / name).write_text(text)
    log.write_text("x" * 10)
    assert rotate_log(log, limit=10, keep=3) is True
    found = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert found == {"mongod.log.1": "x" * 10, "mongod.log.2": "one", "mongod.log.3": "two"}


def test_a_process_started_over_a_large_log_writes_a_fresh_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("crm_stack.proc.LOG_ROTATE_BYTES", 10)
    log = tmp_path / "logs" / "service.log"
    log.parent.mkdir()
    log.write_text("an old run's lines\n")
    proc = start_detached([sys.executable, "-c", "print('started')"], log, cwd=tmp_path)
    assert proc.wait(timeout=20) == 0
    assert log.read_text() == "started\n"
    assert (log.parent / "service.log.1").read_text() == "an old run's lines\n"
