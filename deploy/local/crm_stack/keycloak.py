"""Keycloak, the local OpenID Connect provider, from its distribution on Maven Central.

The archive ``org.keycloak:keycloak-quarkus-dist`` is fetched once into the cache and checked
against the digest pinned here; each stack unpacks its own copy (Keycloak writes its database,
build output and temporary files inside its home) and starts it in development mode on
127.0.0.1 with the realm kept in ``deploy/local/keycloak/crm-realm.json``. When that file
changes, the next ``up`` starts from a fresh database so the new realm is imported; whatever
was changed by hand in the running provider is then gone (it is the development provider).

See docs/decisions/0008-oidc-provider.md.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from crm_stack.config import HOST, KEYCLOAK_REALM_FILE, StackConfig
from crm_stack.errors import StackError
from crm_stack.prereqs import parse_java_major, require_tool
from crm_stack.proc import tail_lines

VERSION = "26.7.3"
ARCHIVE_SHA256 = "77657f30b7e90d70f727712ce1c967f430fd6a5e9f458d32d8c6df0635345f47"
"""sha256 of keycloak-quarkus-dist-26.7.3.tar.gz as served by Maven Central on 2026-12-06."""
ARTIFACT = f"org.keycloak:keycloak-quarkus-dist:{VERSION}:tar.gz"
MIN_JAVA = 21
REALM = "crm"
HEAP = "-Xms64m -Xmx512m"
_COMPLETE = ".complete"

Say = Callable[[str], None]


# --- the distribution -------------------------------------------------------------------------


def archive_path(cfg: StackConfig) -> Path:
    return cfg.cache_dir / f"keycloak-{VERSION}" / f"keycloak-quarkus-dist-{VERSION}.tar.gz"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def archive_ready(cfg: StackConfig) -> bool:
    path = archive_path(cfg)
    return path.is_file() and _sha256(path) == ARCHIVE_SHA256


def ensure_archive(cfg: StackConfig, say: Say) -> Path:
    """The pinned archive in the cache, fetched with Maven once and checked against its digest."""
    path = archive_path(cfg)
    if archive_ready(cfg):
        return path
    mvn = require_tool("mvn")
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    say(f"fetching Keycloak {VERSION} from Maven Central into {folder} (first run only)")
    log = folder / "mvn.log"
    argv = [
        mvn,
        "-q",
        "-B",
        "dependency:copy",
        f"-Dartifact={ARTIFACT}",
        f"-DoutputDirectory={folder}",
    ]
    with log.open("wb") as out:
        rc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
    if rc != 0 or not path.is_file():
        raise StackError(
            f"fetching Keycloak {VERSION} failed (mvn exit {rc}); full output in {log}",
            tail_lines(log, 15),
        )
    found = _sha256(path)
    if found != ARCHIVE_SHA256:
        path.unlink(missing_ok=True)
        raise StackError(
            f"the Keycloak {VERSION} archive has sha256 {found}, not the pinned "
            f"{ARCHIVE_SHA256}; refusing to run it"
        )
    return path


def home(cfg: StackConfig) -> Path:
    return cfg.keycloak_dir / f"keycloak-{VERSION}"


def unpack_safely(tar: tarfile.TarFile, folder: Path) -> None:
    """Unpack ``tar`` into ``folder`` once every member is a file, a folder or a link that
    stays inside it (else nothing is unpacked), on every interpreter alike: Debian 12's
    Python 3.11.2, which ``make`` prefers (decision 0082), has no tarfile extraction filters;
    where they exist (3.11.4+) the "data" filter is applied as well."""
    root = folder.resolve()
    for member in tar.getmembers():
        target = (root / member.name).resolve()
        if member.issym() or member.islnk():
            base = target.parent if member.issym() else root
            inside = (base / member.linkname).resolve().is_relative_to(root)
        else:
            inside = member.isfile() or member.isdir()
        if not (target.is_relative_to(root) and inside):
            raise StackError(f"the archive member {member.name!r} would land outside {folder}")
    if hasattr(tarfile, "data_filter"):
        tar.extractall(folder, filter="data")
    else:
        tar.extractall(folder)  # noqa: S202 - every member checked above


def ensure_home(cfg: StackConfig, archive: Path) -> Path:
    """This stack's own unpacked Keycloak (unpacked once; the marker is written last)."""
    target = home(cfg)
    marker = target / _COMPLETE
    if marker.is_file():
        return target
    if target.exists():
        shutil.rmtree(target)
    cfg.keycloak_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        unpack_safely(tar, cfg.keycloak_dir)
    if not (target / "bin" / "kc.sh").is_file():
        raise StackError(f"{archive} did not unpack into {target}")
    marker.write_text(VERSION + "\n")
    return target


# --- Java ---------------------------------------------------------------------------------------


def _java_major(java: Path) -> int | None:
    try:
        proc = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_java_major((proc.stderr or "") + (proc.stdout or ""))


def _java_candidates() -> list[Path]:
    chosen = os.environ.get("CRM_STACK_KEYCLOAK_JAVA_HOME", "").strip()
    if chosen:
        return [Path(chosen).expanduser() / "bin" / "java"]
    found: list[Path] = []
    if os.environ.get("JAVA_HOME"):
        found.append(Path(os.environ["JAVA_HOME"]) / "bin" / "java")
    on_path = shutil.which("java")
    if on_path:
        found.append(Path(on_path).resolve())
    jvms = Path("/usr/lib/jvm")
    if jvms.is_dir():
        found.extend(sorted(jvms.glob("*/bin/java"), reverse=True))
    return found


def require_java_home() -> Path:
    """A Java home of version 21 or newer (Keycloak 26 needs it; Kafka is content with 17)."""
    seen: list[str] = []
    for java in _java_candidates():
        if not java.is_file():
            seen.append(f"{java} (missing)")
            continue
        major = _java_major(java)
        if major is not None and major >= MIN_JAVA:
            return java.resolve().parent.parent
        seen.append(f"{java} (Java {major})")
    raise StackError(
        f"Keycloak {VERSION} needs Java {MIN_JAVA} or newer and none was found "
        f"({', '.join(seen) or 'no java at all'}); install one (apt-get install -y "
        "openjdk-21-jre-headless or a Temurin JDK) or set CRM_STACK_KEYCLOAK_JAVA_HOME"
    )


# --- the realm ------------------------------------------------------------------------------


def realm_digest() -> str:
    return hashlib.sha256(KEYCLOAK_REALM_FILE.read_bytes()).hexdigest()


def prepare_realm(cfg: StackConfig, kc_home: Path, say: Say) -> None:
    """Put the repository's realm where ``--import-realm`` reads it; a changed realm file makes
    the next start begin from an empty database, so the new realm is the one imported."""
    imports = kc_home / "data" / "import"
    imports.mkdir(parents=True, exist_ok=True)
    digest = realm_digest()
    recorded = cfg.keycloak_dir / "realm.sha256"
    previous = recorded.read_text().strip() if recorded.is_file() else None
    database = kc_home / "data" / "h2"
    if previous is not None and previous != digest and database.exists():
        say("keycloak: the realm file changed; starting from a fresh provider database")
        shutil.rmtree(database)
    shutil.copyfile(KEYCLOAK_REALM_FILE, imports / KEYCLOAK_REALM_FILE.name)
    recorded.write_text(digest + "\n")


def demo_users() -> list[str]:
    """The realm's people who sign in with a password (the demo's employees)."""
    realm = json.loads(KEYCLOAK_REALM_FILE.read_text(encoding="utf-8"))
    return [
        str(user["username"])
        for user in realm.get("users", [])
        if any(c.get("type") == "password" for c in user.get("credentials", []))
    ]


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    roles: tuple[str, ...]
    department: str


def demo_people() -> list[DemoUser]:
    """The demo's employees with what a person needs to sign in as one: the development
    password the realm gives them, their roles and department."""
    realm = json.loads(KEYCLOAK_REALM_FILE.read_text(encoding="utf-8"))
    people = []
    for user in realm.get("users", []):
        password = next(
            (c.get("value") for c in user.get("credentials", []) if c.get("type") == "password"),
            None,
        )
        if password is None:
            continue
        people.append(
            DemoUser(
                username=str(user["username"]),
                password=str(password),
                roles=tuple(sorted(user.get("realmRoles", []))),
                department=str((user.get("attributes", {}).get("department") or [""])[0]),
            )
        )
    return people


def sign_in_lines(cfg: StackConfig) -> list[str]:
    """What `make run` prints about the provider: its address, and who can sign in."""
    people = demo_people()
    width = max((len(p.username) for p in people), default=8)
    pwidth = max((len(p.password) for p in people), default=8)
    lines = [
        f"{'keycloak':<10} {cfg.keycloak_url}  issuer {cfg.oidc_issuer}",
        f"{'':<10} its admin console {cfg.keycloak_url}/admin: user admin, password in "
        f"{cfg.keycloak_dir / 'admin-password'}",
        f"demo users ({len(people)}, development passwords): username / password / roles",
    ]
    lines += [
        f"  {p.username:<{width}}  {p.password:<{pwidth}}  {', '.join(p.roles)}"
        + (f"  ({p.department})" if p.department else "")
        for p in people
    ]
    realm = json.loads(KEYCLOAK_REALM_FILE.read_text(encoding="utf-8"))
    lines += [
        f"app client {c['clientId']} / {c['secret']} (client credentials)"
        for c in realm.get("clients", [])
        if c.get("serviceAccountsEnabled") and "secret" in c
    ]
    return lines


def admin_password(cfg: StackConfig) -> str:
    """The provider's own administrator (user ``admin``) password, made once per stack."""
    path = cfg.keycloak_dir / "admin-password"
    if path.is_file():
        return path.read_text().strip()
    cfg.keycloak_dir.mkdir(parents=True, exist_ok=True)
    value = "dev-only-" + secrets.token_urlsafe(18)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


# --- running it -----------------------------------------------------------------------------


def config_file(cfg: StackConfig) -> Path:
    return cfg.keycloak_dir / "keycloak.conf"


def write_config(cfg: StackConfig) -> Path:
    """The provider's settings, in a file of this stack's (its path also names the process:
    ``kc.sh`` re-executes itself as ``java`` after its first build, keeping the arguments)."""
    path = config_file(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# written by crm-stack on every start (deploy/local/crm_stack/keycloak.py)\n"
        f"http-host={HOST}\n"
        f"http-port={cfg.keycloak_port}\n"
        # One issuer whatever name a caller uses for the host: tokens name this address.
        f"hostname={cfg.keycloak_url}\n"
        "log-console-output=default\n"
    )
    return path


def command(cfg: StackConfig, kc_home: Path) -> list[str]:
    return [
        str(kc_home / "bin" / "kc.sh"),
        f"--config-file={write_config(cfg)}",
        "start-dev",
        "--import-realm",
    ]


def environment(cfg: StackConfig, java_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KC_", "KEYCLOAK_"))}
    env.update(
        JAVA_HOME=str(java_home),
        JAVA_OPTS_KC_HEAP=cfg.keycloak_heap,
        KC_BOOTSTRAP_ADMIN_USERNAME="admin",
        KC_BOOTSTRAP_ADMIN_PASSWORD=admin_password(cfg),
    )
    return env


def expected_args(cfg: StackConfig) -> list[str]:
    """What names this stack's provider in its command line, before and after ``kc.sh``
    re-executes itself as ``java``."""
    return [f"--config-file={config_file(cfg)}", "start-dev"]


def discovery_url(cfg: StackConfig) -> str:
    return f"{cfg.oidc_issuer}/.well-known/openid-configuration"


def is_ready(cfg: StackConfig, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(discovery_url(cfg), timeout=timeout) as answer:  # noqa: S310
            document = json.loads(answer.read())
    except (OSError, ValueError, urllib.error.URLError, http.client.HTTPException):
        # Starting, Keycloak may also answer with a broken status line or cut the body short.
        return False
    return isinstance(document, dict) and document.get("issuer") == cfg.oidc_issuer


def wait_ready(cfg: StackConfig, timeout: float, alive: Callable[[], bool]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_ready(cfg):
            return
        if not alive():
            raise StackError(
                f"keycloak exited during start; its log is {cfg.keycloak_log}",
                _error_lines(cfg.keycloak_log),
            )
        time.sleep(0.5)
    raise StackError(
        f"keycloak did not answer {discovery_url(cfg)} within {timeout:.0f} s "
        f"(CRM_STACK_KEYCLOAK_TIMEOUT); its log is {cfg.keycloak_log}",
        _error_lines(cfg.keycloak_log),
    )


def _error_lines(log: Path) -> list[str]:
    lines = tail_lines(log, 40)
    errors = [line for line in lines if re.search(r"\b(ERROR|FATAL|Exception)\b", line)]
    return errors[-10:] or lines[-10:]
