"""A notification turned into what is sent and what is published: the message for the chosen
channel (its template, rendered for the recipient, with the calendar entry an event notice
carries, and what a marketing message carries besides: ``marketing``) and the fields of its
outcome fact."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from email.utils import parseaddr
from typing import Any

from crm_contracts.common import Recipient
from crm_contracts.values import Channel, Language, NotificationKind, RecipientKind
from crm_kit.outbox import Document

from crm_notify import marketing
from crm_notify.channels import Attachment, InlineImage, Outgoing
from crm_notify.domain import Reachability
from crm_notify.ical import calendar_entry
from crm_notify.links import UnsubscribeClaims, UnsubscribeLinks
from crm_notify.marketing import Extras
from crm_notify.repository.templates import template_key
from crm_notify.templates import SHIPPED, Template, render


def address_reachability(doc: Document, default_language: Language) -> Reachability | None:
    """A notification to a bare address carries everything about its recipient itself."""
    recipient = doc["recipient"]
    if recipient["kind"] != RecipientKind.ADDRESS.value:
        return None
    channel = Channel(doc.get("address_channel") or Channel.EMAIL.value)
    return Reachability(
        kind=RecipientKind.ADDRESS,
        name=recipient["id"],
        language=Language(doc.get("language_hint") or default_language),
        addresses={channel: recipient["id"]},
        preferred=channel,
    )


def template_for(
    kind: NotificationKind, language: Language, overrides: Mapping[str, Document]
) -> Template:
    override = overrides.get(template_key(kind, language))
    if override is not None:
        return Template(override["subject"], override["text"], override.get("html"))
    return SHIPPED[(kind, language)]


def _extras(
    doc: Document,
    who: Reachability,
    channel: Channel,
    language: Language,
    links: UnsubscribeLinks | None,
) -> Extras:
    """The unsubscribe link of a marketing message; the QR code of an invitation by e-mail."""
    recipient = doc["recipient"]
    client_id = recipient.get("client_id") or who.client_id
    url = None
    if links is not None and marketing.is_marketing(recipient["kind"]) and client_id:
        url = links.url(
            UnsubscribeClaims(
                person_id=recipient["id"],
                client_id=client_id,
                channel=channel,
                notification_id=str(doc["_id"]),
            )
        )
    code = (doc.get("variables") or {}).get("check_in_code")
    qr = (
        f"check-in.{doc['_id']}@crm"
        if channel is Channel.EMAIL
        and isinstance(code, str)
        and code.strip()
        and doc["kind"] == NotificationKind.INVITATION.value
        else None
    )
    return Extras(
        language=language,
        channel=channel,
        unsubscribe_url=url,
        qr_content_id=qr,
        check_in_code=code if qr else None,
    )


@functools.lru_cache(maxsize=8)
def _organizer(mail_from: str) -> str:
    """The calendar entry's organizer: the address of the ``mail_from`` setting, parsed once."""
    return parseaddr(mail_from)[1] or "crm@localhost"


def compose(
    doc: Document,
    who: Reachability,
    channel: Channel,
    overrides: Mapping[str, Document],
    *,
    mail_from: str,
    now: datetime,
    links: UnsubscribeLinks | None = None,
) -> Outgoing:
    kind = NotificationKind(doc["kind"])
    language = who.language
    if who.kind is RecipientKind.ADDRESS and doc.get("language_hint"):
        language = Language(doc["language_hint"])
    template = template_for(kind, language, overrides)
    rendered = render(template, {**doc["variables"], "recipient_name": who.name})
    extras = _extras(doc, who, channel, language, links)
    rendered = marketing.with_extras(rendered, extras)
    address = who.addresses[channel]
    headers: tuple[tuple[str, str], ...] = ()
    if extras.unsubscribe_url and channel is Channel.EMAIL:
        # RFC 2369 and RFC 8058: the mail client's own "unsubscribe" does a one-click POST.
        headers = (
            ("List-Unsubscribe", f"<{extras.unsubscribe_url}>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        )
    inline: tuple[InlineImage, ...] = ()
    if extras.qr_content_id and extras.check_in_code:
        inline = (
            InlineImage(
                content_id=extras.qr_content_id,
                content=marketing.check_in_qr_png(extras.check_in_code),
                filename="check-in.png",
            ),
        )
    attachments: tuple[Attachment, ...] = ()
    calendar = doc.get("calendar")
    if calendar and channel is Channel.EMAIL:
        attachments = (
            calendar_entry(
                method=calendar["method"],
                uid=calendar["uid"],
                sequence=int(calendar["sequence"]),
                title=calendar["title"],
                starts_at=calendar["starts_at"],
                ends_at=calendar["ends_at"],
                location=calendar["location"],
                description=rendered.text,
                url=calendar.get("url"),
                attendee=address,
                organizer=_organizer(mail_from),
                stamp=now,
            ),
        )
    return Outgoing(
        to=address,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        reference=str(doc["_id"]),
        attachments=attachments,
        correlation_id=doc.get("correlation_id"),
        headers=headers,
        inline=inline,
    )


def outcome_fields(doc: Document, attempts: int) -> dict[str, Any]:
    """What ``NotificationDelivered`` and ``NotificationFailed`` share about a notification."""
    recipient = doc["recipient"]
    return {
        "notification_id": str(doc["_id"]),
        "source_event_id": doc["source"]["event_id"],
        "source_event_type": doc["source"]["event_type"],
        "recipient": Recipient(
            kind=RecipientKind(recipient["kind"]),
            id=recipient["id"],
            client_id=recipient.get("client_id"),
        ),
        "kind": NotificationKind(doc["kind"]),
        "attempts": attempts,
        "event_id": doc.get("event_id"),
        "participant_id": doc.get("participant_id"),
    }
