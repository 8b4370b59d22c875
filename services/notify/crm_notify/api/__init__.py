"""The notify HTTP API: the staff's routes (``notifications``) and the public unsubscribe
pages reached through the signed link of a marketing message (``unsubscribe``)."""

from __future__ import annotations

from crm_kit import personal_data

from crm_notify.api import notifications, unsubscribe
from crm_notify.handlers import personal

ROUTERS = [
    notifications.router,
    unsubscribe.router,
    personal_data.router("notify", personal.personal_data),
]
