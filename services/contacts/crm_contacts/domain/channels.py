"""Channels of a person or employee: validated and normalised addresses, and consent.

Phones go to E.164 with ``phonenumbers`` (Google's libphonenumber metadata, kept current);
e-mail through ``email-validator`` without DNS look-ups (a registration must not depend on the
network), lower-cased as the contract promises.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import phonenumbers
from crm_contracts.values import Channel
from crm_kit.refusals import Refusals
from email_validator import EmailNotValidError, validate_email

from crm_contacts.domain.errors import ChannelWithoutAddress, InvalidChannel

PHONE_CHANNELS = (Channel.PHONE, Channel.MOBILE, Channel.FAX)


def normalise_email(value: str, *, field: str = "email") -> str:
    try:
        checked = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidChannel(
            f"{value!r} is not a valid e-mail address: {exc}", field=field
        ) from exc
    return checked.normalized.lower()


def normalise_phone(value: str, region: str | None = None, *, field: str = "phone") -> str:
    """The number in E.164; a number without ``+`` is read in ``region`` (ISO alpha-2)."""
    try:
        number = phonenumbers.parse(value, (region or "").upper() or None)
    except phonenumbers.NumberParseException as exc:
        hint = "" if region else " (write it with + and the country code)"
        raise InvalidChannel(f"{value!r} is not a phone number{hint}: {exc}", field=field) from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidChannel(f"{value!r} is not a valid phone number", field=field)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_pager(value: str, *, field: str = "pager") -> str:
    text = "".join(value.split())
    if not text or len(text) > 64:
        raise InvalidChannel(f"{value!r} is not a pager number or subscriber id", field=field)
    return text


@dataclass(frozen=True)
class Channels:
    """Normalised addresses per channel; ``None`` where the person has none."""

    email: str | None = None
    phone: str | None = None
    mobile: str | None = None
    fax: str | None = None
    pager: str | None = None

    def address(self, channel: Channel) -> str | None:
        value: str | None = getattr(self, channel.value)
        return value

    def present(self) -> tuple[Channel, ...]:
        return tuple(c for c in Channel if self.address(c))

    @classmethod
    def parse(
        cls, raw: Mapping[str, str | None], *, region: str | None = None, prefix: str = "channels"
    ) -> Channels:
        """Validate and normalise every given address; empty strings mean "none". Every bad
        address is refused, not only the first."""
        values: dict[str, str | None] = {}
        refusals = Refusals(InvalidChannel)
        for channel in Channel:
            value = raw.get(channel.value)
            values[channel.value] = None
            if value is None or not value.strip():
                continue
            field = f"{prefix}.{channel.value}"
            with refusals.check():
                if channel is Channel.EMAIL:
                    values[channel.value] = normalise_email(value, field=field)
                elif channel is Channel.PAGER:
                    values[channel.value] = normalise_pager(value, field=field)
                else:
                    values[channel.value] = normalise_phone(value, region, field=field)
        refusals.raise_if_any()
        return cls(**values)

    def merged_with(self, raw: Mapping[str, str | None], *, region: str | None) -> Channels:
        """These channels with the given ones replaced (``None`` or "" removes one)."""
        current: dict[str, str | None] = {c.value: self.address(c) for c in Channel}
        current.update(raw)
        return Channels.parse(current, region=region)


@dataclass(frozen=True)
class Consent:
    channel: Channel
    granted: bool
    at: datetime
    source: str


def check_preferred(channels: Channels, preferred: Channel | None, *, field: str) -> None:
    if preferred is not None and channels.address(preferred) is None:
        raise ChannelWithoutAddress(
            f"the preferred channel {preferred.value} has no address", field=field
        )


def initial_consents(
    channels: Channels, granted: tuple[Channel, ...], *, at: datetime, source: str, field: str
) -> tuple[Consent, ...]:
    """Consent as given at registration: only for channels the person has an address for."""
    for channel in granted:
        if channels.address(channel) is None:
            raise ChannelWithoutAddress(
                f"consent for {channel.value} needs an address for it", field=field
            )
    return tuple(
        Consent(channel, True, at, source) for channel in Channel if channel in set(granted)
    )


def consent_for(consents: tuple[Consent, ...], channel: Channel) -> Consent | None:
    return next((c for c in consents if c.channel is channel), None)


def with_consent(consents: tuple[Consent, ...], consent: Consent) -> tuple[Consent, ...]:
    kept = [c for c in consents if c.channel is not consent.channel]
    return tuple(sorted([*kept, consent], key=lambda c: list(Channel).index(c.channel)))


__all__ = [
    "PHONE_CHANNELS",
    "Channels",
    "Consent",
    "check_preferred",
    "consent_for",
    "initial_consents",
    "normalise_email",
    "normalise_pager",
    "normalise_phone",
    "with_consent",
]
