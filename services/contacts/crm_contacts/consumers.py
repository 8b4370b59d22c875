"""The contacts service's subscriptions: thin, each handler parses and calls a use case."""

from __future__ import annotations

from crm_contracts import campaigns as k
from crm_contracts import contacts as c
from crm_contracts import notify as n
from crm_contracts import proposals as p
from crm_contracts.topics import CAMPAIGNS, CONTACTS, NOTIFY, PROPOSALS
from crm_kit.app import Subscription

from crm_contacts import projections

TIMELINE = Subscription(
    topics=(CONTACTS, CAMPAIGNS, PROPOSALS, NOTIFY),
    handlers={
        c.ContactRecorded: projections.on_contact_recorded,
        c.ClientsMerged: projections.on_clients_merged,
        c.ClientRegistered: projections.on_client_fact,
        c.ClientUpdated: projections.on_client_fact,
        c.ClientStatusChanged: projections.on_client_fact,
        c.PersonAdded: projections.on_client_fact,
        c.PersonUpdated: projections.on_client_fact,
        c.CuratorAssigned: projections.on_client_fact,
        k.ParticipantsAdded: projections.on_participants_added,
        k.NeedsIdentified: projections.on_needs_identified,
        k.InvitationRequested: projections.on_invitation_requested,
        k.InvitationAnswered: projections.on_invitation_answered,
        k.AttendanceRecorded: projections.on_attendance_recorded,
        k.QuestionnaireSubmitted: projections.on_questionnaire_submitted,
        p.ProposalRegistered: projections.on_proposal_registered,
        p.ProposalRevised: projections.on_proposal_revised,
        p.ProposalWon: projections.on_proposal_won,
        p.ProposalLost: projections.on_proposal_lost,
        n.NotificationDelivered: projections.on_notification_delivered,
        n.NotificationFailed: projections.on_notification_failed,
    },
    description="The per-client timeline, potential clients from questionnaires, and the "
    "repair of a client's search entry after each fact about it.",
)

SUBSCRIPTIONS = [TIMELINE]
