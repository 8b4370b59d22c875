"""Processes, pid files, ports and log tails, the Linux way (``/proc``)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from crm_stack.config import HOST

_PROC = Path("/proc")


# --- /proc --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcStat:
    state: str
    pgid: int
    start_time: int  # clock ticks since boot: with the pid, names one process for its lifetime


def proc_stat(pid: int) -> ProcStat | None:
    """The state, process group and start time of ``pid``, or None if there is no such process."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # "pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
    #  stime cutime cstime priority nice num_threads itrealvalue starttime ..."; comm may hold
    # spaces and parentheses, so split after the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    return ProcStat(state=fields[0], pgid=int(fields[2]), start_time=int(fields[19]))


def proc_cmdline(pid: int) -> list[str] | None:
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def is_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    st = proc_stat(pid)
    return st is not None and st.state not in ("Z", "X")


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid``."""
    members: list[int] = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        st = proc_stat(int(entry.name))
        if st is not None and st.pgid == pgid and st.state not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def _reap(pid: int) -> None:
    """Collect ``pid``'s exit status if it is our child (so it does not linger as a zombie)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


# --- pid files ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PidRecord:
    pid: int
    start_time: int | None


def write_pid_file(path: Path, pid: int) -> None:
    st = proc_stat(pid)
    record = {
        "pid": pid,
        "start_time": st.start_time if st else None,
        "argv": proc_cmdline(pid) or [],
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(path)


def read_pid_file(path: Path) -> PidRecord | None:
    """The record in ``path``: JSON as written above, or a bare pid. None if absent or garbage."""
    try:
        raw = path.read_text().strip()
    except FileNotFoundError:
        return None
    if raw.isdigit():
        return PidRecord(pid=int(raw), start_time=None)
    try:
        data = json.loads(raw)
        pid = int(data["pid"])
        start = data.get("start_time")
        return PidRecord(pid=pid, start_time=int(start) if start is not None else None)
    except (ValueError, KeyError, TypeError):
        return None


def owned_pid(path: Path, expected_args: Sequence[str]) -> int | None:
    """The pid in ``path`` if that process is still the one ``up`` started, else None.

    "Ours" means: alive, same start time as recorded (when recorded: guards against pid reuse),
    and its command line holds every one of ``expected_args`` (which name this state dir).
    """
    record = read_pid_file(path)
    if record is None or record.pid <= 1:
        return None
    st = proc_stat(record.pid)
    if st is None or st.state in ("Z", "X"):
        return None
    if record.start_time is not None and st.start_time != record.start_time:
        return None
    argv = proc_cmdline(record.pid)
    if argv is None or not all(arg in argv for arg in expected_args):
        return None
    return record.pid


# --- starting and stopping ----------------------------------------------------------------


LOG_ROTATE_BYTES = 20 * 1024 * 1024
LOG_BACKUPS = 3
"""As the broker's own log rotates (deploy/local/kafka/log4j2.properties): 20 MiB, three kept."""


def rotate_log(path: Path, *, limit: int = LOG_ROTATE_BYTES, keep: int = LOG_BACKUPS) -> bool:
    """Move a log of ``limit`` bytes or more aside (``name.1``, the older ones one further,
    the ``keep``-th dropped); returns whether it did. A stack that ran for days kept one
    mongod log of hundreds of MB (its slow operations on a loaded machine) until this."""
    try:
        if path.stat().st_size < limit:
            return False
    except FileNotFoundError:
        return False
    for i in range(keep, 0, -1):
        newer = path.with_name(f"{path.name}.{i - 1}") if i > 1 else path
        if newer.exists():
            newer.replace(path.with_name(f"{path.name}.{i}"))
    return True


def start_detached(
    argv: Sequence[str], log_path: Path, *, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own session (so its own process group), output appended to a log
    (moved aside first when it has grown to ``LOG_ROTATE_BYTES``)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    rotate_log(log_path, limit=LOG_ROTATE_BYTES)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )


def _signal_group(pid: int, sig: signal.Signals) -> None:
    st = proc_stat(pid)
    target_group = st is not None and st.pgid == pid  # we start each process as a group leader
    try:
        if target_group or st is None:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        _reap(pid)
        if not is_alive(pid) and not group_members(pid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def stop_process(pid: int, *, timeout: float = 30.0) -> bool:
    """SIGTERM the process group led by ``pid``, SIGKILL it after ``timeout``, wait for exit.

    Returns True if it stopped on SIGTERM, False if it had to be killed.
    """
    _signal_group(pid, signal.SIGTERM)
    if _wait_gone(pid, timeout):
        return True
    _signal_group(pid, signal.SIGKILL)
    _wait_gone(pid, 10.0)
    return False


# --- ports --------------------------------------------------------------------------------


def port_is_free(port: int, host: str = HOST) -> bool:
    """True if a server could listen on ``host:port`` now (SO_REUSEADDR, as Java and Go use)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def port_answers(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    """True if something accepts a TCP connection on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (_PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) < 10 or cols[3] != "0A":  # 0A == LISTEN
                continue
            if int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    return inodes


def port_owner(port: int) -> str | None:
    """Best effort: "pid N (name)" of a process listening on ``port``, or None if unknown."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in targets:
                    comm = (entry / "comm").read_text().strip()
                    return f"pid {entry.name} ({comm})"
            except OSError:
                continue
    return None


def describe_busy_port(port: int) -> str:
    """Why ``port`` cannot be used, as a clause: who listens there, if that can be found."""
    owner = port_owner(port)
    if owner:
        return f"{owner} already listens there"
    if port_answers(port):
        return "another program already listens there"
    return "it is in use (could not tell by what)"


# --- logs ---------------------------------------------------------------------------------


def tail_lines(path: Path, count: int = 20) -> list[str]:
    """The last ``count`` lines of ``path`` (empty if it does not exist)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read()
    except OSError:
        return []
    lines = data.decode(errors="replace").splitlines()
    return lines[-count:]
