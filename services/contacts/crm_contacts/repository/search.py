"""Client search as one indexed query: the terms a client is found by, and the filter on them.

Each client document carries ``search_terms``, the values a filter or a name query asks for,
typed by a prefix: ``s:<status>``, ``a:<activity code>``, ``r:<region>``, ``t:<tag>``,
``c:<curator id>`` and ``n:<prefix of a name word>``. One compound index, (``search_terms``,
``registered_at``, ``_id``), serves every filter with the search's order: an equality on one
term gives the index's entries of that term already in (registration time, id) order, so a page
reads about as many entries as it needs (the store checks the filter's other terms on the
documents it fetches) and stops. The planner picks the term to walk by racing the candidates on
the first query of a shape. A search without any term walks (``registered_at``, ``_id``).

Name words are folded as duplicate matching folds them (:func:`normalise_name`: case, accents,
punctuation, legal forms), and every prefix of a word is a term, so ``q=volg nor`` is an
equality on ``n:volg`` checked for ``n:nor``. The people's e-mail addresses and phones are in
``search_channels`` (``e:<the address from the start of one of its parts>``, ``p:<the phone's
digits from any position>``), looked up as prefix ranges: few clients share a fragment of an
address, so their matches are sorted after the scan and that index keeps no order of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crm_contracts.values import ClientStatus

from crm_contacts import domain
from crm_contacts.domain.channels import PHONE_CHANNELS
from crm_contacts.domain.matching import looks_like_phone, normalise_name

SEARCH_TERMS = "search_terms"
SEARCH_CHANNELS = "search_channels"
WORD_PREFIX_MAX = 24
"""Name words are indexed (and matched) on their first 24 characters."""
PHONE_DIGITS_MIN = 4
"""Phone terms are the number's digit suffixes down to four digits: a query of fewer digits
matches only where they are followed by more."""
_EMAIL_PARTS = frozenset(".-_+@")


def _name_terms(name: str) -> list[str]:
    return [
        f"n:{word[:end]}"
        for word in normalise_name(name).split()
        for end in range(1, min(len(word), WORD_PREFIX_MAX) + 1)
    ]


def _email_terms(email: str) -> list[str]:
    """The address from its start and from each part's start, separator included or not
    (``ivan.petrov@acme.example`` is found by ``petrov@acme``, ``@acme`` or ``acme.ex``)."""
    starts = {0}
    for at, char in enumerate(email):
        if char in _EMAIL_PARTS:
            starts.update((at, at + 1))
    return [f"e:{email[at:]}" for at in sorted(starts) if at < len(email)]


def _phone_terms(number: str) -> list[str]:
    """Every suffix of the E.164 digits, so a prefix of a term is any run of the digits."""
    digits = number.lstrip("+")
    return [f"p:{digits[at:]}" for at in range(len(digits) - PHONE_DIGITS_MIN + 1)]


def search_terms(client: domain.Client) -> list[str]:
    """What ``client`` is found by in a filter or by its name; a merged client by nothing."""
    if client.merged_into is not None:
        return []
    terms = [f"s:{client.status.value}"]
    if client.field_of_activity:
        terms.append(f"a:{client.field_of_activity.code}")
    if client.region:
        terms.append(f"r:{client.region}")
    terms += [f"t:{tag}" for tag in client.tags]
    if client.curator_id:
        terms.append(f"c:{client.curator_id}")
    if not client.details_erased:
        terms += _name_terms(client.name)
    return list(dict.fromkeys(terms))


def search_channels(client: domain.Client) -> list[str]:
    """What ``client`` is found by through its people's e-mail addresses and phones."""
    if client.merged_into is not None:
        return []
    terms: list[str] = []
    for person in client.people:
        if person.channels.email:
            terms += _email_terms(person.channels.email)
        for channel in PHONE_CHANNELS:
            number = person.channels.address(channel)
            if number:
                terms += _phone_terms(number)
    return list(dict.fromkeys(terms))


@dataclass(frozen=True)
class ClientFilter:
    statuses: tuple[ClientStatus, ...] = ()
    activity_codes: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    curator_id: str | None = None
    registered_from: datetime | None = None
    registered_to: datetime | None = None
    text: str | None = None
    by_channels: bool = True
    """Whether ``text`` may also match people's e-mail addresses and phones (a caller who does
    not see personal data finds clients by name only)."""

    def query(self) -> dict[str, Any]:
        """The store filter; merged clients never show in a search."""
        required: list[str] = []
        clauses: list[dict[str, Any]] = [{"merged_into": None}]
        for prefix, values in (
            ("s", [s.value for s in self.statuses]),
            ("a", list(self.activity_codes)),
            ("r", list(self.regions)),
        ):
            terms = [f"{prefix}:{v}" for v in dict.fromkeys(values)]
            if len(terms) == 1:
                required += terms
            elif terms:
                clauses.append({SEARCH_TERMS: {"$in": terms}})
        required += [f"t:{t.strip().lower()}" for t in self.tags]
        if self.curator_id:
            required.append(f"c:{self.curator_id}")
        period: dict[str, datetime] = {}
        if self.registered_from:
            period["$gte"] = self.registered_from
        if self.registered_to:
            period["$lt"] = self.registered_to
        if period:
            clauses.append({"registered_at": period})
        if self.text and self.text.strip():
            names, others = _text_options(self.text)
            if not self.by_channels:
                others = []
            if not others:
                required += names
                if not names:
                    clauses.append({"_id": {"$in": []}})  # nothing to look for
            else:
                options = [*([{SEARCH_TERMS: {"$all": names}}] if names else []), *others]
                clauses.append({"$or": options} if len(options) > 1 else options[0])
        if required:
            clauses.append({SEARCH_TERMS: {"$all": list(dict.fromkeys(required))}})
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _text_options(text: str) -> tuple[list[str], list[dict[str, Any]]]:
    """``q`` as name terms (every word a prefix of a word of the name), and the other ways it
    can match: an e-mail fragment (when it has ``@`` or ``.``) or phone digits."""
    words = normalise_name(text).split()
    names = list(dict.fromkeys(f"n:{w[:WORD_PREFIX_MAX]}" for w in words))
    others: list[dict[str, Any]] = []
    lowered = text.strip().lower()
    if "@" in lowered or "." in lowered:
        others.append({SEARCH_CHANNELS: {"$regex": "^" + re.escape(f"e:{lowered}")}})
    if looks_like_phone(text):
        digits = re.sub(r"\D", "", text)
        if digits:
            others.append({SEARCH_CHANNELS: {"$regex": f"^p:{digits}"}})
    return names, others
