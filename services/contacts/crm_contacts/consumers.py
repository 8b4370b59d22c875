"""The contacts service's subscriptions: thin, each handler parses and calls a use case."""

from __future__ import annotations

from crm_contracts import backoffice as b
from crm_contracts import campaigns as k
from crm_contracts import contacts as c
from crm_contracts import notify as n
from crm_contracts import proposals as p
from crm_contracts.topics import BACKOFFICE, CAMPAIGNS, CONTACTS, NOTIFY, PROPOSALS
from crm_kit.app import Subscription

from crm_contacts import projections

TIMELINE = Subscription(
    topics=(CONTACTS, CAMPAIGNS, PROPOSALS, NOTIFY, BACKOFFICE),
    handlers={
        # The contacts topic: each fact about a client repairs its duplicate marks; the
        # registrations, status moves, people added and curators join the timeline.
        c.ClientRegistered: projections.on_client_fact,
        c.ClientUpdated: projections.on_client_fact,
        c.ClientStatusChanged: projections.on_client_fact,
        c.PersonAdded: projections.on_client_fact,
        c.PersonUpdated: projections.on_client_fact,
        c.CuratorAssigned: projections.on_client_fact,
        c.ClientsMerged: projections.on_clients_merged,
        c.ClientExpired: projections.on_client_expired,
        c.PersonErased: projections.on_person_erased,
        # Facts that need lookups or side effects of their own.
        k.ParticipantsAdded: projections.on_participants_added,
        k.NeedsIdentified: projections.on_needs_identified,
        k.QuestionnaireSubmitted: projections.on_questionnaire_submitted,
        p.ProposalWon: projections.on_proposal_won,
        b.ContractSigned: projections.on_deal_going_ahead,
        b.PaymentReceived: projections.on_deal_going_ahead,
        n.UnsubscribeRequested: projections.on_unsubscribe_requested,
        # Every other fact: one timeline entry each, as ``projections.FACTS`` describes it.
        **{
            event: projections.on_fact
            for event in projections.FACTS
            if (event.topic != CONTACTS or event is c.ContactRecorded)
            and event
            not in (p.ProposalWon, b.ContractSigned, b.PaymentReceived, n.UnsubscribeRequested)
        },
    },
    description="The per-client timeline (contacts' own facts about a client and the other "
    "services', and the back office's answers), potential clients from questionnaires, a won "
    "deal (or the back office's signed contract or payment) making its client active, an "
    "unsubscribe link withdrawing its channel's consent, and the repair of a client's "
    "duplicate marks after each fact about it.",
)

SUBSCRIPTIONS = [TIMELINE]
