"""A person erased in contacts is forgotten here too; what campaigns holds about a person."""

from __future__ import annotations

from crm_contracts.contacts import PersonErased
from crm_contracts.envelope import Envelope
from crm_kit.personal_data import PersonalData, held
from crm_kit.runtime import Runtime

from crm_campaigns.repository import personal


async def on_person_erased(rt: Runtime, event: PersonErased, _: Envelope) -> None:
    await personal.forget_person(rt, event)


async def personal_data(rt: Runtime, person_id: str) -> PersonalData:
    return held(await personal.held_about(rt, person_id), copy="person")
