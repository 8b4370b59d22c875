"""Crypto-shredding: personal fields in events sealed under per-subject keys that erasure destroys.

``crm_contracts.personal`` says which fields of which events are personal and whose key seals
them. The outbox relay seals them as it publishes (:meth:`Sealer.seal_records`); the idempotent
consumer unseals an envelope before its handler opens it (:meth:`Sealer.unseal`). A value whose
key was destroyed unseals to ``ERASED``, so a consumer (and a replay) goes on with the person
forgotten instead of failing.

The keys live in the key vault (``KeyVault``): one MongoDB collection every service reaches,
standing in for a KMS. Each data key is a random AES-256 key, stored wrapped (AES-GCM) under a
key-encryption key derived from the ``key_vault_master_key`` secret, so the vault's documents
alone reveal nothing. Erasing a subject removes its key and leaves a tombstone, so a late event
about the subject is published with its fields already erased rather than under a new key.
The ciphers are ``cryptography``'s AES-GCM (docs/decisions/0074).
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bson import Binary
from crm_contracts.envelope import Envelope
from crm_contracts.personal import ERASED, SEALED_FIELDS, SEALED_PREFIX, Sealing, subject_id
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError
from pymongo.write_concern import WriteConcern

from crm_kit.settings import ServiceSettings

Document = dict[str, Any]
DATA_KEYS = "data_keys"
"""The key vault's collection: ``{"_id": subject, "key": wrapped, "created_at"}``, or a tombstone
``{"_id": subject, "erased_at"}`` once the subject was erased."""
_NONCE = 12
_DUPLICATE_KEY = 11000
FORGOTTEN_VERSION = 2**62
"""The version a projection's copy of an erased person is left at: no state of theirs arriving
later (a redelivery, a replay) is newer, so none brings them back."""


class UnsealError(ValueError):
    """A sealed value that no key opens: tampered with, or sealed under another master key."""


def _kek(master_secret: str) -> AESGCM:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"crm key vault v1"
    ).derive(master_secret.encode())
    return AESGCM(derived)


class KeyVault:
    """The data keys of every subject, wrapped under the master key."""

    def __init__(self, db: AsyncDatabase[Document], master_secret: str) -> None:
        self.keys: AsyncCollection[Document] = db.get_collection(
            DATA_KEYS, write_concern=WriteConcern("majority")
        )
        self._kek = _kek(master_secret)

    def _wrap(self, subject: str, key: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._kek.encrypt(nonce, key, subject.encode())

    def _unwrap(self, subject: str, wrapped: bytes) -> bytes:
        return self._kek.decrypt(wrapped[:_NONCE], wrapped[_NONCE:], subject.encode())

    async def keys_for(self, subjects: Iterable[str]) -> dict[str, bytes | None]:
        """Each subject's key, made on first use, ``None`` once erased: one read for them all
        and one insert of the keys made now (where another producer made one first, theirs)."""
        wanted = sorted(set(subjects))
        if not wanted:
            return {}
        found = {str(d["_id"]): d async for d in self.keys.find({"_id": {"$in": wanted}})}
        keys = {subject: self._key_of(doc) for subject, doc in found.items()}
        made = {s: AESGCM.generate_key(bit_length=256) for s in wanted if s not in found}
        if not made:
            return keys
        now = _now()
        docs = [
            {"_id": s, "key": Binary(self._wrap(s, key)), "created_at": now}
            for s, key in made.items()
        ]
        try:
            await self.keys.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != _DUPLICATE_KEY for e in errors):
                raise
            theirs = sorted(str(docs[int(e["index"])]["_id"]) for e in errors)
            for subject in theirs:
                del made[subject]
            async for doc in self.keys.find({"_id": {"$in": theirs}}):
                keys[str(doc["_id"])] = self._key_of(doc)
        keys.update(made)
        return keys

    async def existing_keys(self, subjects: Iterable[str]) -> dict[str, bytes | None]:
        """Each subject's key if it has one (never made here; ``None`` if none or erased),
        with one read."""
        wanted = sorted(set(subjects))
        if not wanted:
            return {}
        found = {str(d["_id"]): d async for d in self.keys.find({"_id": {"$in": wanted}})}
        return {subject: self._key_of(found.get(subject)) for subject in wanted}

    def _key_of(self, doc: Document | None) -> bytes | None:
        if doc is None or doc.get("key") is None:
            return None
        return self._unwrap(str(doc["_id"]), bytes(doc["key"]))

    async def destroy(self, subjects: Iterable[str]) -> None:
        """Destroy the subjects' keys and leave tombstones; again changes nothing."""
        now = _now()
        for subject in subjects:
            await self.keys.update_one(
                {"_id": subject},
                [
                    {"$set": {"erased_at": {"$ifNull": ["$erased_at", now]}}},
                    {"$unset": ["key", "created_at"]},
                ],
                upsert=True,
            )

    async def erased(self, subject: str) -> bool:
        found = await self.keys.find_one({"_id": subject}, {"erased_at": 1})
        return found is not None and found.get("erased_at") is not None


def sealer_of(
    settings: ServiceSettings, client: AsyncMongoClient[Document]
) -> tuple[Sealer, AsyncMongoClient[Document]]:
    """The service's sealer and the client of its key vault (``client`` itself unless the vault
    has an address of its own; the caller closes it when it is another)."""
    vault_client: AsyncMongoClient[Document] = (
        AsyncMongoClient(settings.key_vault_uri, tz_aware=True)
        if settings.key_vault_uri
        else client
    )
    vault = KeyVault(
        vault_client[settings.key_vault_database],
        settings.key_vault_master_key.get_secret_value(),
    )
    return Sealer(vault), vault_client


async def opened_payload(
    envelope: Mapping[str, Any], settings: ServiceSettings | None = None
) -> dict[str, Any]:
    """A raw envelope's payload, opened with the key vault the settings name (the defaults: the
    local stack's): what a consumer outside the services, a back office given the vault, reads.
    Connects for this one call, when there is anything to open."""
    if envelope.get("event_type") not in SEALED_FIELDS:
        return dict(envelope["payload"])
    opened = await opened_envelope(Envelope.model_validate(envelope), settings)
    return dict(opened.payload)


async def opened_envelope(envelope: Envelope, settings: ServiceSettings | None = None) -> Envelope:
    """:func:`opened_payload` for a parsed envelope (the same envelope when nothing in it is
    sealed)."""
    if envelope.event_type not in SEALED_FIELDS:
        return envelope
    settings = settings or ServiceSettings()
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        settings.key_vault_uri or settings.mongo_uri, tz_aware=True
    )
    try:
        vault = KeyVault(
            client[settings.key_vault_database], settings.key_vault_master_key.get_secret_value()
        )
        return await Sealer(vault).unseal(envelope)
    finally:
        await client.close()


def _now() -> datetime:
    return datetime.now(UTC)


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


def _segments(path: str) -> list[str]:
    out: list[str] = []
    for part in path.split("."):
        if part.endswith("[]"):
            out += [part[:-2], "[]"]
        else:
            out.append(part)
    return out


def _value_at(payload: Mapping[str, Any], path: str) -> Any:
    node: Any = payload
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _rewrite(node: Any, segments: list[str], change: Callable[[str], str]) -> Any:
    """``node`` with every string at ``segments`` passed through ``change``."""
    if not segments:
        return change(node) if isinstance(node, str) else node
    head, rest = segments[0], segments[1:]
    if head == "[]":
        return [_rewrite(item, rest, change) for item in node] if isinstance(node, list) else node
    if not isinstance(node, dict):
        return node
    keys = list(node) if head == "*" else [head] if head in node else []
    for key in keys:
        node[key] = _rewrite(node[key], rest, change)
    return node


def subject_of(sealing: Sealing, payload: Mapping[str, Any]) -> str | None:
    """The subject whose key seals this payload's personal fields (the first path present)."""
    for kind, path in sealing.subjects:
        value = _value_at(payload, path)
        if isinstance(value, str) and value:
            return subject_id(kind, value)
    return None


class Sealer:
    """Seals and unseals the personal fields of event payloads with the vault's keys."""

    def __init__(self, vault: KeyVault) -> None:
        self.vault = vault

    async def seal(self, event_type: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The payload with its personal fields sealed (erased, if the subject was erased)."""
        out = copy.deepcopy(dict(payload))
        await self._seal_in_place(event_type, out)
        return out

    async def _seal_in_place(self, event_type: str, out: dict[str, Any]) -> None:
        todo = _sealings(event_type, out)
        _apply(out, todo, await self.vault.keys_for(subject for _, subject in todo))

    async def seal_record(self, event_type: str, value: str) -> str:
        """An outbox entry's envelope JSON with its payload sealed (unchanged if nothing is)."""
        [sealed] = await self.seal_records([(event_type, value)])
        return sealed

    async def seal_records(self, records: Sequence[tuple[str, str]]) -> list[str]:
        """Outbox entries' envelope JSON (by event type) with their payloads sealed, the keys
        of all their subjects read from the vault at once (the relay's batch: one read, not
        one per event)."""
        out = [value for _, value in records]
        parsed: list[tuple[int, dict[str, Any], list[tuple[Sealing, str]]]] = []
        for index, (event_type, value) in enumerate(records):
            if event_type not in SEALED_FIELDS:
                continue
            # Parsed just now and nobody else's: sealed where it lies, not copied first.
            envelope = json.loads(value)
            parsed.append((index, envelope, _sealings(event_type, envelope["payload"])))
        if not parsed:
            return out
        keys = await self.vault.keys_for(s for _, _, todo in parsed for _, s in todo)
        for index, envelope, todo in parsed:
            _apply(envelope["payload"], todo, keys)
            out[index] = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))
        return out

    async def unseal_payload(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The payload with every sealed value opened, or ``ERASED`` where its key is gone."""
        opened = await self._opened(payload, {})
        out: dict[str, Any] = _replaced(dict(payload), {}) if opened is None else opened
        return out

    async def unseal(
        self, envelope: Envelope, keys: Mapping[str, bytes | None] | None = None
    ) -> Envelope:
        """The envelope with its payload unsealed (the same envelope when nothing is sealed);
        ``keys`` are ones read already (``keys_of``), the vault is asked for any other."""
        if envelope.event_type not in SEALED_FIELDS:
            return envelope
        opened = await self._opened(envelope.payload, keys or {})
        return envelope if opened is None else envelope.model_copy(update={"payload": opened})

    async def keys_of(self, envelopes: Iterable[Envelope]) -> dict[str, bytes | None]:
        """The keys that open the sealed values of ``envelopes``, with one vault read (a
        consumer's batch: one read, not one per event)."""
        tokens: list[str] = []
        for envelope in envelopes:
            if envelope.event_type in SEALED_FIELDS:
                _collect(envelope.payload, tokens)
        return await self.vault.existing_keys(_subject_of_token(t) for t in tokens)

    async def _opened(
        self, payload: Mapping[str, Any], known: Mapping[str, bytes | None]
    ) -> dict[str, Any] | None:
        """A copy of the payload with its sealed values opened; None when it holds none."""
        tokens: list[str] = []
        _collect(payload, tokens)
        if not tokens:
            return None
        subjects = {_subject_of_token(token) for token in tokens}
        keys = {s: known[s] for s in subjects if s in known}
        if len(keys) < len(subjects):
            keys.update(await self.vault.existing_keys(subjects - set(keys)))
        opened = {token: _open_one(_subject_of_token(token), keys[_subject_of_token(token)], token)
                  for token in dict.fromkeys(tokens)}  # fmt: skip
        out: dict[str, Any] = _replaced(dict(payload), opened)
        return out


def _sealings(event_type: str, payload: Mapping[str, Any]) -> list[tuple[Sealing, str]]:
    """The sealings that apply to this payload, each with the subject whose key seals it."""
    todo = []
    for sealing in SEALED_FIELDS.get(event_type, ()):
        if sealing.when is not None and _value_at(payload, sealing.when[0]) != sealing.when[1]:
            continue
        subject = subject_of(sealing, payload)
        if subject is not None:
            todo.append((sealing, subject))
    return todo


def _apply(
    payload: dict[str, Any],
    todo: Sequence[tuple[Sealing, str]],
    keys: Mapping[str, bytes | None],
) -> None:
    for sealing, subject in todo:
        seal = functools.partial(_seal_one, subject, keys[subject])
        for path in sealing.fields:
            _rewrite(payload, _segments(path), seal)


@functools.lru_cache(maxsize=1024)
def _cipher(key: bytes) -> AESGCM:
    """The AES-GCM cipher of one data key, made once for the many values it seals and opens
    (the fields of an event, the events of one person). Always reached through a key the vault
    has just handed out, so an erased subject's cipher is never used again; it leaves this
    bounded cache as others come in."""
    return AESGCM(key)


def _seal_one(subject: str, key: bytes | None, value: str) -> str:
    if is_sealed(value) or value == ERASED:
        return value
    if key is None:
        return ERASED
    nonce = os.urandom(_NONCE)
    sealed = nonce + _cipher(key).encrypt(nonce, value.encode(), subject.encode())
    return f"{SEALED_PREFIX}{subject}:{base64.urlsafe_b64encode(sealed).decode()}"


def _open_one(subject: str, key: bytes | None, token: str) -> str:
    if key is None:
        return ERASED
    sealed = base64.urlsafe_b64decode(token.rsplit(":", 1)[1])
    try:
        clear = _cipher(key).decrypt(sealed[:_NONCE], sealed[_NONCE:], subject.encode())
    except Exception as exc:
        raise UnsealError(f"a sealed value of {subject} does not open") from exc
    return clear.decode()


def _replaced(node: Any, opened: Mapping[str, str]) -> Any:
    """A copy of ``node`` with every string that ``opened`` names replaced by its value."""
    if isinstance(node, dict):
        return {k: _replaced(v, opened) for k, v in node.items()}
    if isinstance(node, list):
        return [_replaced(v, opened) for v in node]
    if isinstance(node, str):
        return opened.get(node, node)
    return node


def _collect(node: Any, into: list[str]) -> None:
    if isinstance(node, Mapping):
        for value in node.values():
            _collect(value, into)
    elif isinstance(node, list):
        for value in node:
            _collect(value, into)
    elif is_sealed(node):
        into.append(node)


def _subject_of_token(token: str) -> str:
    return token[len(SEALED_PREFIX) :].rsplit(":", 1)[0]
