"""The notify HTTP API: the staff's routes (``notifications``) and the public unsubscribe
pages reached through the signed link of a marketing message (``unsubscribe``)."""

from __future__ import annotations

from crm_notify.api import notifications, unsubscribe

ROUTERS = [notifications.router, unsubscribe.router]
