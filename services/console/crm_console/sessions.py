"""Server-side sessions in MongoDB: the browser holds only a random id in a cookie.

The store keys each session by the SHA-256 of that id, so reading the collection gives no
cookie that works. A session holds the person's tokens, their CSRF token and their language; a
TTL index removes it when it ends (absolute or idle expiry, whichever is sooner), and every
read checks the expiry too (the TTL monitor runs once a minute). A started sign-in (PKCE
verifier, state, nonce) waits in its own collection, bound to the browser that started it.

Each person's chosen language is also kept by their subject (``preferences``), so it
follows them to their next sign-in.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Person:
    subject: str
    username: str
    name: str
    roles: frozenset[str]
    employee_id: str | None = None
    department: str | None = None
    locale: str | None = None
    """The language the provider knows the person by (its ``locale`` claim)."""

    def has(self, *roles: str) -> bool:
        return not self.roles.isdisjoint(roles)


@dataclass(frozen=True)
class Tokens:
    access_token: str
    access_expires_at: datetime
    refresh_token: str | None = None
    refresh_expires_at: datetime | None = None
    id_token: str | None = None


@dataclass(frozen=True)
class Session:
    key: str
    """The digest of the cookie's id (the stored ``_id``)."""
    person: Person
    tokens: Tokens
    csrf: str
    language: str
    started_at: datetime
    expires_at: datetime
    last_seen_at: datetime
    flash: list[str] = field(default_factory=list)
    """Messages for the next page shown (an action done, then a redirect)."""


@dataclass(frozen=True)
class PendingSignIn:
    state: str
    verifier: str
    nonce: str
    browser: str
    """Digest of the sign-in cookie of the browser that started it (login CSRF)."""
    next_path: str
    expires_at: datetime


class SessionStore:
    def __init__(self, db: AsyncDatabase[Document], *, ttl_s: int, idle_s: int) -> None:
        self.sessions = db["sessions"]
        self.signins = db["signins"]
        self.preferences = db["preferences"]
        self.ttl = timedelta(seconds=ttl_s)
        self.idle = timedelta(seconds=idle_s)

    async def create_indexes(self) -> None:
        await self.sessions.create_index("expires_at", expireAfterSeconds=0)
        await self.sessions.create_index("person.subject")
        await self.signins.create_index("expires_at", expireAfterSeconds=0)

    # --- sign-in in progress -----------------------------------------------------------
    async def begin_sign_in(self, pending: PendingSignIn) -> None:
        await self.signins.insert_one(
            {
                "_id": digest(pending.state),
                "verifier": pending.verifier,
                "nonce": pending.nonce,
                "browser": pending.browser,
                "next": pending.next_path,
                "expires_at": pending.expires_at,
            }
        )

    async def take_sign_in(self, state: str, now: datetime) -> PendingSignIn | None:
        """The sign-in ``state`` names, removed so its code can be used once only."""
        doc = await self.signins.find_one_and_delete({"_id": digest(state)})
        if doc is None or doc["expires_at"] <= now:
            return None
        return PendingSignIn(
            state, doc["verifier"], doc["nonce"], doc["browser"], doc["next"], doc["expires_at"]
        )

    # --- sessions ----------------------------------------------------------------------
    async def create(
        self, person: Person, tokens: Tokens, language: str, now: datetime
    ) -> tuple[str, Session]:
        """A new session; returns the cookie's id (shown once) and the session."""
        cookie = new_secret()
        session = Session(
            key=digest(cookie),
            person=person,
            tokens=tokens,
            csrf=new_secret(),
            language=language,
            started_at=now,
            expires_at=self._expiry(now, now, tokens),
            last_seen_at=now,
        )
        await self.sessions.insert_one(_to_document(session))
        return cookie, session

    async def find(self, cookie: str, now: datetime) -> Session | None:
        doc = await self.sessions.find_one({"_id": digest(cookie)})
        if doc is None:
            return None
        session = _from_document(doc)
        if session.expires_at <= now:
            await self.end(session)
            return None
        return session

    async def touch(self, session: Session, now: datetime) -> Session:
        """Push the idle expiry on; at most once a minute, to spare the store a write a click."""
        if now - session.last_seen_at < timedelta(minutes=1):
            return session
        touched = replace(
            session,
            last_seen_at=now,
            expires_at=self._expiry(session.started_at, now, session.tokens),
        )
        await self.sessions.update_one(
            {"_id": session.key},
            {"$set": {"last_seen_at": now, "expires_at": touched.expires_at}},
        )
        return touched

    async def replace_tokens(self, session: Session, tokens: Tokens, now: datetime) -> Session:
        renewed = replace(
            session, tokens=tokens, expires_at=self._expiry(session.started_at, now, tokens)
        )
        await self.sessions.update_one(
            {"_id": session.key},
            {"$set": {"tokens": _tokens_doc(tokens), "expires_at": renewed.expires_at}},
        )
        return renewed

    async def set_language(self, session: Session, language: str) -> Session:
        await self.sessions.update_one({"_id": session.key}, {"$set": {"language": language}})
        await self.preferences.update_one(
            {"_id": session.person.subject}, {"$set": {"language": language}}, upsert=True
        )
        return replace(session, language=language)

    async def preferred_language(self, subject: str) -> str | None:
        doc = await self.preferences.find_one({"_id": subject})
        return str(doc["language"]) if doc and doc.get("language") else None

    async def looked_at(self, subject: str) -> datetime | None:
        """When the person last marked what changed as seen (My work)."""
        doc = await self.preferences.find_one({"_id": subject})
        at = doc.get("looked_at") if doc else None
        return at if isinstance(at, datetime) else None

    async def mark_looked(self, subject: str, at: datetime) -> None:
        await self.preferences.update_one(
            {"_id": subject}, {"$set": {"looked_at": at}}, upsert=True
        )

    async def add_flash(self, session: Session, message: str) -> None:
        await self.sessions.update_one({"_id": session.key}, {"$push": {"flash": message}})

    async def take_flash(self, session: Session) -> list[str]:
        if not session.flash:
            return []
        await self.sessions.update_one({"_id": session.key}, {"$set": {"flash": []}})
        return list(session.flash)

    async def end(self, session: Session) -> None:
        await self.sessions.delete_one({"_id": session.key})

    def _expiry(self, started: datetime, now: datetime, tokens: Tokens) -> datetime:
        candidates = [started + self.ttl, now + self.idle]
        if tokens.refresh_expires_at is not None:
            candidates.append(max(tokens.refresh_expires_at, tokens.access_expires_at))
        return min(candidates)


def _tokens_doc(tokens: Tokens) -> Document:
    return {
        "access_token": tokens.access_token,
        "access_expires_at": tokens.access_expires_at,
        "refresh_token": tokens.refresh_token,
        "refresh_expires_at": tokens.refresh_expires_at,
        "id_token": tokens.id_token,
    }


def _to_document(s: Session) -> Document:
    return {
        "_id": s.key,
        "person": {
            "subject": s.person.subject,
            "username": s.person.username,
            "name": s.person.name,
            "roles": sorted(s.person.roles),
            "employee_id": s.person.employee_id,
            "department": s.person.department,
            "locale": s.person.locale,
        },
        "tokens": _tokens_doc(s.tokens),
        "csrf": s.csrf,
        "language": s.language,
        "started_at": s.started_at,
        "expires_at": s.expires_at,
        "last_seen_at": s.last_seen_at,
        "flash": list(s.flash),
    }


def _from_document(doc: Document) -> Session:
    p, t = doc["person"], doc["tokens"]
    return Session(
        key=doc["_id"],
        person=Person(
            subject=p["subject"],
            username=p["username"],
            name=p["name"],
            roles=frozenset(p["roles"]),
            employee_id=p.get("employee_id"),
            department=p.get("department"),
            locale=p.get("locale"),
        ),
        tokens=Tokens(
            access_token=t["access_token"],
            access_expires_at=t["access_expires_at"],
            refresh_token=t.get("refresh_token"),
            refresh_expires_at=t.get("refresh_expires_at"),
            id_token=t.get("id_token"),
        ),
        csrf=doc["csrf"],
        language=doc["language"],
        started_at=doc["started_at"],
        expires_at=doc["expires_at"],
        last_seen_at=doc["last_seen_at"],
        flash=list(doc.get("flash", [])),
    )
