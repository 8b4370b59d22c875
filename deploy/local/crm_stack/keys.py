"""A development-only RSA key pair for signing and checking the services' JWTs."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from crm_stack.config import StackConfig

#: The services refuse, in production, a key that sits beside a file of this name.
DEV_MARKER = "DEVELOPMENT-ONLY"


def ensure_dev_keys(cfg: StackConfig) -> bool:
    """Write <state>/keys/jwt-{private,public}.pem (RSA 2048, PEM) once. True if made now."""
    keys = cfg.keys_dir
    keys.mkdir(parents=True, exist_ok=True)
    (keys / DEV_MARKER).touch()
    if cfg.jwt_private_key.is_file() and cfg.jwt_public_key.is_file():
        return False
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    public_pem = private.public_key().public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    )
    tmp = cfg.jwt_private_key.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private_pem)
    tmp.replace(cfg.jwt_private_key)
    cfg.jwt_public_key.write_bytes(public_pem)
    return True
