"""What campaigns listens to: thin subscriptions mapping events to handlers."""

from __future__ import annotations

from crm_contracts.contacts import ClientRegistered, ClientStatusChanged, ClientUpdated
from crm_contracts.topics import CONTACTS
from crm_kit.app import Subscription

from crm_campaigns import projections

SUBSCRIPTIONS = [
    Subscription(
        topics=(CONTACTS,),
        handlers={
            ClientRegistered: projections.on_client_registered,
            ClientUpdated: projections.on_client_updated,
            ClientStatusChanged: projections.on_client_status_changed,
        },
        description="Keeps the client portrait projection that participant selection uses.",
    )
]
