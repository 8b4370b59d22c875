"""Unpacking the provider's archive: every member checked to stay inside the folder before
anything is written, on an interpreter with tarfile's extraction filters or without them."""

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


def test_a_release_archive_unpacks(tmp_path: Path) -> None:
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
        member("/crm-stack-test-absolute.sh"),
        member("keycloak-1/etc", tarfile.SYMTYPE, "/etc"),
        member("keycloak-1/up", tarfile.SYMTYPE, "../../.."),
        member("keycloak-1/hard", tarfile.LNKTYPE, "../../outside"),
    ],
    ids=["parent", "absolute", "link to /etc", "link upwards", "hard link outside"],
)
def test_a_member_that_would_land_outside_is_refused(tmp_path: Path, bad: tarfile.TarInfo) -> None:
    path = archive(tmp_path / "kc.tar.gz", member("keycloak-1/bin/kc.sh"), bad)
    out = tmp_path / "deep" / "out"
    out.mkdir(parents=True)
    with tarfile.open(path) as tar, pytest.raises(StackError, match="would land outside"):
        keycloak.unpack_safely(tar, out)
    assert list(out.iterdir()) == []  # checked before anything is written
    assert not (tmp_path / "deep" / "escaped.sh").exists()
    assert not Path("/crm-stack-test-absolute.sh").exists()
