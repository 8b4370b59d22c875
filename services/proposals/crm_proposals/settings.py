"""The proposals service's settings (``CRM_PROPOSALS_<FIELD>``, then ``CRM_<FIELD>``)."""

from __future__ import annotations

from typing import ClassVar

from crm_kit.settings import ServiceSettings
from pydantic import Field

DEFAULT_APPROVAL_THRESHOLD_BP = 1_000


class ProposalsSettings(ServiceSettings):
    service_name: ClassVar[str] = "proposals"
    http_port: int = 8003
    discount_approval_threshold_bp: int = Field(
        default=DEFAULT_APPROVAL_THRESHOLD_BP, ge=0, le=10_000
    )
    """A line discounted by more than this (basis points; 1000 = 10 %) needs a done approval
    step in the plan before the proposal is presented."""


def approval_threshold_bp(settings: ServiceSettings) -> int:
    if isinstance(settings, ProposalsSettings):
        return settings.discount_approval_threshold_bp
    return DEFAULT_APPROVAL_THRESHOLD_BP
