"""Use cases: turn requests into notifications (``requests``), ad-hoc sends (``ad_hoc``).

A consumed request makes one notification per recipient whose id is derived from (source
event, recipient, kind), so a redelivered event finds its notification already there. The
sending itself is the delivery worker's (``worker.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crm_contracts.values import NotificationKind
from crm_kit.runtime import Runtime

from crm_notify.domain import KIND_VARIABLES
from crm_notify.settings import NotifySettings


def settings_of(rt: Runtime) -> NotifySettings:
    settings = rt.settings
    assert isinstance(settings, NotifySettings)
    return settings


def declared_variables(kind: NotificationKind, values: Mapping[str, Any]) -> dict[str, Any]:
    """Every variable the kind declares, so strict rendering never meets a missing one."""
    declared = KIND_VARIABLES[kind] - {"recipient_name"}
    return {name: values.get(name) for name in sorted(declared)}
