"""Unpacking the provider's archive, with tarfile's "data" filter and, on an interpreter
without filters (Debian 12's 3.11.2), with the stack's own member check."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from crm_stack import keycloak
from crm_stack.errors import StackError

pytestmark = pytest.mark.timeout(30)


def archive(path: Path, *members: tarfile.TarInfo) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for member in members:
            data = b"#!/bin/sh\n" if member.isfile() else None
            if data is not None:
                member.size = len(data)
            tar.addfile(member, io.BytesIO(data) if data is not None else None)
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.mode = 0o755
    return info


@pytest.fixture(params=["with filters", "without filters"])
def interpreter(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "without filters":
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    elif not hasattr(tarfile, "data_filter"):
        pytest.skip("this interpreter's tarfile has no extraction filters")
    return str(request.param)


def test_a_release_archive_unpacks(tmp_path: Path, interpreter: str) -> None:
    path = archive(
        tmp_path / "kc.tar.gz",
        member("keycloak-1/", tarfile.DIRTYPE),
        member("keycloak-1/bin/kc.sh"),
        member("keycloak-1/bin/kc", tarfile.SYMTYPE, "kc.sh"),
    )
    with tarfile.open(path) as tar:
        keycloak.unpack_safely(tar, tmp_path / "out")
    assert (tmp_path / "out" / "keycloak-1" / "bin" / "kc.sh").read_bytes() == b"#!/bin/sh\n"
    assert (tmp_path / "out" / "keycloak-1" / "bin" / "kc").resolve().name == "kc.sh"


@pytest.mark.parametrize(
    "bad",
    [
        member("../escaped.sh"),
        member("keycloak-1/etc", tarfile.SYMTYPE, "/etc"),
        member("keycloak-1/up", tarfile.SYMTYPE, "../../.."),
        member("keycloak-1/hard", tarfile.LNKTYPE, "../../outside"),
    ],
    ids=["parent", "link to /etc", "link upwards", "hard link outside"],
)
def test_a_member_that_would_land_outside_is_refused(
    tmp_path: Path, interpreter: str, bad: tarfile.TarInfo
) -> None:
    path = archive(tmp_path / "kc.tar.gz", member("keycloak-1/bin/kc.sh"), bad)
    out = tmp_path / "deep" / "out"
    out.mkdir(parents=True)
    refusals = (StackError, getattr(tarfile, "FilterError", StackError))
    with tarfile.open(path) as tar, pytest.raises(refusals):
        keycloak.unpack_safely(tar, out)
    if interpreter == "without filters":
        assert list(out.iterdir()) == []  # checked before anything is written
    assert not (tmp_path / "deep" / "escaped.sh").exists()


def test_an_absolute_member_never_lands_at_its_absolute_path(
    tmp_path: Path, interpreter: str
) -> None:
    """The "data" filter unpacks it inside the folder, its leading slash stripped; the check
    without filters refuses the archive."""
    absolute = tmp_path / "absolute.sh"
    path = archive(tmp_path / "kc.tar.gz", member(str(absolute)))
    out = tmp_path / "out"
    with tarfile.open(path) as tar:
        if interpreter == "without filters":
            with pytest.raises(StackError, match="would land outside"):
                keycloak.unpack_safely(tar, out)
        else:
            keycloak.unpack_safely(tar, out)
            assert (out / str(absolute).lstrip("/")).is_file()
    assert not absolute.exists()
