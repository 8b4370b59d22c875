"""``crm-token``: mint bearer tokens and make a development key pair.

    crm-token keygen .stack/keys
    crm-token mint --sub billing-app --scope contacts:read --scope contacts:write
    crm-token mint --sub console --scope proposals:write --role sales --employee <employee id>

These are development tokens, for tests and scripts: people sign in through the OpenID Connect
provider, whose tokens the services verify by its keys. A minted token acts as an internal app
(role ``integration``) unless ``--role`` says otherwise.

``mint`` signs with ``--key`` or ``CRM_JWT_PRIVATE_KEY_FILE``, for the issuer and audience in
``CRM_JWT_ISSUER`` / ``CRM_JWT_AUDIENCE`` (defaults ``crm-local`` / ``crm``, as the services).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from crm_kit.auth import sign_token
from crm_kit.settings import DEV_KEY_MARKER

PRIVATE_KEY_NAME = "jwt-private.pem"
PUBLIC_KEY_NAME = "jwt-public.pem"
EXIT_USAGE = 2


class _RefusedError(Exception):
    """A one-line reason to stop with exit status 2."""


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "mint":
            print(_mint(args))
            print(
                "crm-token: a development token, signed with the development key; "
                "services in production refuse it",
                file=sys.stderr,
            )
        else:
            for path in keygen(Path(args.directory), force=args.force):
                print(path)
    except (_RefusedError, OSError) as exc:
        print(f"crm-token: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0


def keygen(directory: Path, *, force: bool = False) -> list[Path]:
    """Write an RSA-2048 pair and the development marker into ``directory``."""
    private_path = directory / PRIVATE_KEY_NAME
    public_path = directory / PUBLIC_KEY_NAME
    marker_path = directory / DEV_KEY_MARKER
    if not force and (private_path.exists() or public_path.exists()):
        raise FileExistsError(f"{directory} already holds a key pair; pass --force to replace it")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    directory.mkdir(parents=True, exist_ok=True)
    # The marker goes first: a pair without it must never exist, or production could take it.
    marker_path.write_text(
        "Keys in this directory were made by `crm-token keygen` for local development.\n"
        "Services running with CRM_ENVIRONMENT=production refuse them.\n"
    )
    private_path.touch(mode=0o600, exist_ok=True)
    private_path.chmod(0o600)
    private_path.write_bytes(private_pem)
    public_path.write_bytes(public_pem)
    return [private_path, public_path, marker_path]


def _mint(args: argparse.Namespace) -> str:
    key_file = args.key or os.environ.get("CRM_JWT_PRIVATE_KEY_FILE")
    if not key_file:
        raise _RefusedError("no private key: pass --key or set CRM_JWT_PRIVATE_KEY_FILE")
    try:
        pem = Path(key_file).read_bytes()
    except OSError as exc:
        raise _RefusedError(f"cannot read the private key {key_file}: {exc.strerror}") from exc
    if args.ttl <= 0:
        raise _RefusedError("--ttl must be a positive number of seconds")
    try:
        return sign_token(
            pem,
            subject=args.sub,
            scopes=args.scope,
            issuer=args.issuer,
            audience=args.audience,
            ttl_s=args.ttl,
            roles=args.role or ["integration"],
            employee_id=args.employee,
        )
    except ValueError as exc:
        raise _RefusedError(f"{key_file}: {exc}") from exc


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crm-token", description="Mint CRM bearer tokens; make a development key pair."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    mint = commands.add_parser("mint", help="print a signed token")
    mint.add_argument("--sub", required=True, help="the calling application")
    mint.add_argument(
        "--scope",
        action="append",
        default=[],
        metavar="SERVICE:ACTION",
        help="a granted scope, e.g. contacts:read; repeat for more",
    )
    mint.add_argument(
        "--role",
        action="append",
        default=[],
        metavar="ROLE",
        help="a realm role (docs/authorization.md); repeat for more (default: integration)",
    )
    mint.add_argument("--employee", help="the employee id of contacts the token's person is")
    mint.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (3600)")
    mint.add_argument("--key", help="RSA private key PEM (default: $CRM_JWT_PRIVATE_KEY_FILE)")
    mint.add_argument(
        "--issuer",
        default=os.environ.get("CRM_JWT_ISSUER", "crm-local"),
        help="iss claim (default: $CRM_JWT_ISSUER or crm-local)",
    )
    mint.add_argument(
        "--audience",
        default=os.environ.get("CRM_JWT_AUDIENCE", "crm"),
        help="aud claim (default: $CRM_JWT_AUDIENCE or crm)",
    )

    keygen_cmd = commands.add_parser(
        "keygen", help=f"write {PRIVATE_KEY_NAME}, {PUBLIC_KEY_NAME} and {DEV_KEY_MARKER}"
    )
    keygen_cmd.add_argument("directory", help="where to write the pair (created if missing)")
    keygen_cmd.add_argument("--force", action="store_true", help="replace an existing pair")
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
