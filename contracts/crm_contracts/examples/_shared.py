"""Shared example values: one client, person, employee, event and proposal."""

from __future__ import annotations

from datetime import UTC, datetime

from crm_contracts.common import ChannelAddresses, Place, Recipient
from crm_contracts.money import Money
from crm_contracts.values import RecipientKind

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
START = datetime(2026, 4, 14, 7, 0, tzinfo=UTC)
END = datetime(2026, 4, 14, 15, 0, tzinfo=UTC)
CLIENT, PERSON, EMPLOYEE = "65f1c2a4e13b4c0001a1b2c3", "65f1c2a4e13b4c0001a1b2c4", "emp-0042"
EVENT, PROPOSAL, PLAN = "65f1c2a4e13b4c0001a1b2d0", "65f1c2a4e13b4c0001a1b2e0", "plan-1"
PLACE = Place(venue="Expocentre, hall 2", address="Krasnopresnenskaya nab. 14, Moscow")
CHANNELS = ChannelAddresses(email="i.petrova@example.com", mobile="+79161234567")
GUEST = Recipient(kind=RecipientKind.PERSON, id=PERSON, client_id=CLIENT)


def rub(amount_minor: int) -> Money:
    return Money(amount_minor=amount_minor, currency="RUB")
