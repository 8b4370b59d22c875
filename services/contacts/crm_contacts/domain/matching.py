"""Duplicate matching: the normalised keys under which two clients or people are the same.

A key is ``<kind>:<value>``: ``tax:7707083893``, ``email:ivan@example.com``,
``phone:+74951234567``, ``name:acme tools``, ``person:<client id>:ivan petrov``. A client's keys
are its own (tax id, name) plus its people's e-mail addresses and phones, so a person seen under
another client makes the two clients a likely pair too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from crm_contacts.domain.channels import PHONE_CHANNELS, Channels

# Legal forms that do not tell two organisations apart ("Acme LLC" is "ACME, Ltd.").
_LEGAL_FORMS = frozenset(
    {
        "ooo", "ооо", "zao", "зао", "oao", "оао", "pao", "пао", "ao", "ао", "ip", "ип",
        "llc", "ltd", "limited", "inc", "incorporated", "corp", "corporation", "co",
        "company", "gmbh", "ag", "sa", "plc", "bv", "nv", "oy", "ab", "the",
    }
)  # fmt: skip

KINDS = ("tax", "email", "phone", "name")


def normalise_name(name: str) -> str:
    """Lower case, no accents, punctuation or quotes, no legal form, single spaces."""
    text = unicodedata.normalize("NFKD", name.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.replace("ё", "е")
    words = re.findall(r"\w+", text)
    kept = [w for w in words if w not in _LEGAL_FORMS]
    return " ".join(kept or words)


def client_keys(name: str, tax_id: str | None) -> tuple[str, ...]:
    keys = [f"name:{normalise_name(name)}"]
    if tax_id:
        keys.insert(0, f"tax:{tax_id}")
    return tuple(keys)


def channel_keys(channels: Channels) -> tuple[str, ...]:
    keys: list[str] = []
    if channels.email:
        keys.append(f"email:{channels.email}")
    for channel in PHONE_CHANNELS:
        number = channels.address(channel)
        if number:
            keys.append(f"phone:{number}")
    return tuple(dict.fromkeys(keys))


def person_keys(client_id: str, name: str, channels: Channels) -> tuple[str, ...]:
    """A person matches by e-mail or phone anywhere, by name only within the same client."""
    return (*channel_keys(channels), f"person:{client_id}:{normalise_name(name)}")


def reasons(keys: Iterable[str], other: Iterable[str]) -> tuple[str, ...]:
    """Why two key sets match: the kinds they share, in a fixed order (``tax_id``, …)."""
    shared = set(keys) & set(other)
    kinds = {k.split(":", 1)[0] for k in shared}
    labels = {"tax": "tax_id", "email": "email", "phone": "phone", "name": "name", "person": "name"}
    return tuple(
        dict.fromkeys(labels[k] for k in ("tax", "email", "phone", "name", "person") if k in kinds)
    )


def looks_like_phone(text: str) -> bool:
    return bool(re.fullmatch(r"\+?[\d\s()\-.]{6,}", text.strip()))


__all__ = ["KINDS", "channel_keys", "client_keys", "looks_like_phone", "person_keys", "reasons"]
