"""FerretDB v1 (MongoDB wire protocol over SQLite), built from deploy/local/ferretdb/.

See docs/decisions/0002-ferretdb-embedded.md.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from crm_stack.config import FERRETDB_SRC, HOST, StackConfig, ferretdb_version
from crm_stack.errors import StackError
from crm_stack.prereqs import require_tool
from crm_stack.proc import tail_lines

BINARY_NAME = "crm-ferretdb"
_SOURCES = ("main.go", "serialize.go", "go.mod", "go.sum")  # not the _test.go files

# FerretDB v1.24.2 is built with the patches in deploy/local/ferretdb/patches/ (unified diffs
# against its module, applied with `git apply`): its SQLite backend indexes `_id` as
# `_ferretdb_sjson->"_id"` but looked rows up by `_ferretdb_sjson->'$._id'` (the same value, a
# different expression, so SQLite never used the index), and it narrowed rows by `_id` only when
# the filter held nothing else. See docs/decisions/0002.
PATCHES = FERRETDB_SRC / "patches"


def _patches() -> list[Path]:
    return sorted(PATCHES.glob("*.patch"))


def source_digest() -> str:
    digest = hashlib.sha256()
    for name in _SOURCES:
        digest.update(name.encode() + b"\0" + (FERRETDB_SRC / name).read_bytes() + b"\0")
    for patch in _patches():
        digest.update(patch.name.encode() + b"\0" + patch.read_bytes() + b"\0")
    return digest.hexdigest()


def _patched_modfile(go: str, env: dict[str, str], workdir: Path, log: Path) -> Path:
    """A go.mod (for `go build -modfile`) that builds against a patched copy of FerretDB.

    The copy is FerretDB's module from the Go module cache with PATCHES applied; Go refuses to
    overlay files inside the module cache, hence the copy and the `replace`.
    """
    with log.open("ab") as out:
        subprocess.run(
            [go, "mod", "download", "github.com/FerretDB/FerretDB"],
            cwd=FERRETDB_SRC,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    found = subprocess.run(
        [go, "list", "-m", "-f", "{{.Dir}}", "github.com/FerretDB/FerretDB"],
        cwd=FERRETDB_SRC,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    module = Path(found.stdout.strip())
    if found.returncode != 0 or not (module / "go.mod").is_file():
        raise StackError(
            "cannot find FerretDB's sources in the Go module cache to patch them: "
            + (found.stderr.strip() or str(module))
        )
    copy = workdir / "FerretDB"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(module, copy, copy_function=shutil.copyfile)
    git = require_tool("git")
    for patch in _patches():
        applied = subprocess.run(
            [git, "apply", "-p1", str(patch.resolve())],
            cwd=copy,
            capture_output=True,
            text=True,
            check=False,
        )
        if applied.returncode != 0:
            raise StackError(
                f"the patch {patch.name} does not apply to FerretDB {ferretdb_version()}: "
                f"{applied.stderr.strip()}; review deploy/local/ferretdb/patches/"
            )
    modfile = workdir / "go.mod"
    modfile.write_text(
        (FERRETDB_SRC / "go.mod").read_text()
        + f"\nreplace github.com/FerretDB/FerretDB => {copy.resolve()}\n"
    )
    shutil.copyfile(FERRETDB_SRC / "go.sum", workdir / "go.sum")
    return modfile


def binary_path(cfg: StackConfig) -> Path:
    return cfg.ferretdb_home(ferretdb_version()) / BINARY_NAME


def stamp_path(cfg: StackConfig) -> Path:
    return binary_path(cfg).with_suffix(".stamp")


def binary_current(cfg: StackConfig) -> bool:
    """True if the cached binary was built from the current main.go/go.mod/go.sum."""
    try:
        return binary_path(cfg).is_file() and stamp_path(cfg).read_text().strip() == source_digest()
    except OSError:
        return False


def ensure_binary(cfg: StackConfig, say: Callable[[str], None]) -> Path:
    """Build the FerretDB program once into the cache; rebuilt when its sources change."""
    binary = binary_path(cfg)
    if binary_current(cfg):
        return binary
    go = require_tool("go")
    binary.parent.mkdir(parents=True, exist_ok=True)
    say(f"building FerretDB {ferretdb_version()} into {binary} (first run only, about a minute)")
    tmp = binary.with_name(binary.name + ".building")
    env = {
        **os.environ,
        "CGO_ENABLED": "0",  # pure-Go SQLite
        "GOFLAGS": "-mod=readonly",  # go.sum is committed; never rewrite it here
        "GOTOOLCHAIN": "local",  # never download another Go toolchain
    }
    log = binary.parent / "go-build.log"
    log.write_bytes(b"")
    workdir = binary.parent / "patch"
    workdir.mkdir(exist_ok=True)
    modfile = _patched_modfile(go, env, workdir, log)
    with log.open("ab") as out:
        rc = subprocess.run(
            [go, "build", "-trimpath", f"-modfile={modfile}", "-o", str(tmp), "."],
            cwd=FERRETDB_SRC,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        ).returncode
    if rc != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        raise StackError(
            f"building FerretDB failed (go build exit {rc}); full output in {log}",
            tail_lines(log, 15),
        )
    tmp.replace(binary)
    stamp_path(cfg).write_text(source_digest() + "\n")
    return binary


def command(cfg: StackConfig, binary: Path) -> list[str]:
    return [
        str(binary),
        f"-listen={HOST}:{cfg.mongo_port}",
        f"-data-dir={cfg.ferretdb_data_dir.resolve()}",
    ]


def environment(cfg: StackConfig) -> dict[str, str]:
    """The store process's environment: ours, with the Go collector's target set."""
    return {**os.environ, "GOGC": cfg.ferretdb_gogc}


def expected_args(cfg: StackConfig) -> list[str]:
    """What FerretDB's command line must hold for `down` to treat its pid as ours."""
    return [f"-data-dir={cfg.ferretdb_data_dir.resolve()}"]


def is_ready(cfg: StackConfig) -> bool:
    """True if a MongoDB `ping` answers now."""
    client: MongoClient[dict[str, object]] = MongoClient(
        cfg.mongo_uri,
        directConnection=True,
        serverSelectionTimeoutMS=1000,
        connectTimeoutMS=1000,
        socketTimeoutMS=2000,
    )
    try:
        reply = client.admin.command("ping")
        return bool(reply.get("ok"))
    except PyMongoError:
        return False
    finally:
        client.close()


def wait_ready(cfg: StackConfig, timeout: float, alive: Callable[[], bool]) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if is_ready(cfg):
            return
        if not alive():
            raise StackError(
                f"FerretDB exited during start-up; see {cfg.ferretdb_log}",
                [f"--- last lines of {cfg.ferretdb_log}:", *tail_lines(cfg.ferretdb_log, 20)],
            )
        if time.monotonic() >= deadline:
            raise StackError(
                f"FerretDB did not answer ping on {cfg.mongo_uri} within {timeout:.0f} s; "
                f"see {cfg.ferretdb_log}",
                [f"--- last lines of {cfg.ferretdb_log}:", *tail_lines(cfg.ferretdb_log, 20)],
            )
        time.sleep(0.3)
