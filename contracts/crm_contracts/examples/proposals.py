"""Examples of the proposals and notify services' events."""

from __future__ import annotations

from datetime import date
from typing import Any

from crm_contracts import notify as nt
from crm_contracts import proposals as pr
from crm_contracts.base import ContractEvent
from crm_contracts.common import Address
from crm_contracts.examples._shared import (
    AT,
    CLIENT,
    EMPLOYEE,
    EVENT,
    GUEST,
    PERSON,
    PLAN,
    PROPOSAL,
    rub,
)
from crm_contracts.proposal_parts import (
    ClientContact,
    LineDiscount,
    PlanStep,
    ProposalLine,
    ProposalTotals,
    SalesModelStep,
)
from crm_contracts.values import (
    CatalogItemKind,
    Channel,
    ClientKind,
    DiscountKind,
    FailureKind,
    NotificationKind,
    PlanOrigin,
    ProposalStatus,
    SalesModelOrigin,
    StepOutcome,
    UnsubscribeMethod,
)

LINE = ProposalLine(
    line_no=1,
    item_code="SRV-INSTALL",
    name="Installation",
    quantity=3,
    unit="day",
    unit_price=rub(5_000_000),
    discount=LineDiscount(kind=DiscountKind.PERCENT, basis_points=1000),
    discount_amount=rub(1_500_000),
    line_total=rub(13_500_000),
)
PRICED: dict[str, Any] = {
    "currency": "RUB",
    "lines": (LINE,),
    "totals": ProposalTotals(
        subtotal=rub(15_000_000), discount=rub(1_500_000), total=rub(13_500_000)
    ),
}
NOTIFICATION: dict[str, Any] = {
    "notification_id": "ntf-1",
    "source_event_id": "0b7e4a52-3c1e-4d8e-9f3a-5a1c2b3d4e5f",
    "source_event_type": "InvitationRequested",
    "recipient": GUEST,
    "kind": NotificationKind.INVITATION,
    "event_id": EVENT,
    "participant_id": "prt-1",
}


def proposals_examples() -> list[ContractEvent]:
    step = PlanStep(
        step_id="s1", title="Site survey", assignee_id=EMPLOYEE, due_on=date(2026, 3, 9)
    )
    return [
        pr.CatalogItemChanged(
            code="SRV-INSTALL",
            name="Installation",
            kind=CatalogItemKind.SERVICE,
            unit="day",
            list_price=rub(5_000_000),
            active=True,
            changed_at=AT,
            version=1,
        ),
        pr.ProposalRegistered(
            **PRICED,
            proposal_id=PROPOSAL,
            revision=1,
            client_id=CLIENT,
            curator_id=EMPLOYEE,
            title="Installation works",
            status=ProposalStatus.DRAFT,
            registered_at=AT,
        ),
        pr.ProposalRevised(
            **PRICED,
            proposal_id=PROPOSAL,
            revision=2,
            client_id=CLIENT,
            title="Installation works",
            revised_at=AT,
        ),
        pr.ProposalDraftEdited(
            **PRICED,
            proposal_id=PROPOSAL,
            revision=1,
            client_id=CLIENT,
            curator_id=EMPLOYEE,
            title="Installation works, two sites",
            changed_fields=("title", "lines"),
            edited_at=AT,
        ),
        pr.ProposalStatusChanged(
            proposal_id=PROPOSAL,
            client_id=CLIENT,
            from_status=ProposalStatus.DRAFT,
            to_status=ProposalStatus.PRESENTED,
            changed_at=AT,
            version=2,
        ),
        pr.PlanGenerated(
            proposal_id=PROPOSAL,
            plan_id=PLAN,
            client_id=CLIENT,
            origin=PlanOrigin.MANUAL,
            steps=(step,),
            generated_at=AT,
        ),
        pr.PlanStepAssigned(
            proposal_id=PROPOSAL,
            plan_id=PLAN,
            step_id="s1",
            title="Site survey",
            proposal_title="Installation works",
            client_id=CLIENT,
            assignee_id=EMPLOYEE,
            assigned_at=AT,
        ),
        pr.PlanStepCompleted(
            proposal_id=PROPOSAL,
            plan_id=PLAN,
            step_id="s1",
            title="Site survey",
            outcome=StepOutcome.DONE,
            completed_at=AT,
        ),
        pr.ProposalWon(
            **PRICED,
            proposal_id=PROPOSAL,
            revision=2,
            version=5,
            client_id=CLIENT,
            client_name="OOO Severstroy",
            client_kind=ClientKind.ORGANISATION,
            client_tax_id="7701234567",
            client_country="RU",
            client_legal_address=Address(
                kind="legal",
                text="ul. Tverskaya 7, office 12",
                city="Moscow",
                postal_code="125009",
                country="RU",
            ),
            client_contact=ClientContact(
                person_id=PERSON,
                name="Irina Petrova",
                position="Procurement director",
                role="decision_maker",
                email="i.petrova@example.com",
                mobile="+79161234567",
            ),
            curator_id=EMPLOYEE,
            title="Installation works",
            won_at=AT,
        ),
        pr.ProposalLost(
            proposal_id="65f1c2a4e13b4c0001a1b2e1",
            revision=1,
            client_id=CLIENT,
            curator_id=EMPLOYEE,
            reason="Price",
            lost_at=AT,
            version=3,
        ),
        pr.SalesModelPublished(
            model_id="sm-1",
            version=1,
            name="Installation deal",
            origin=SalesModelOrigin.ANALYST,
            steps=(SalesModelStep(step_id="m1", title="Site survey", offset_days=3),),
            published_at=AT,
        ),
    ]


def notify_examples() -> list[ContractEvent]:
    return [
        nt.NotificationDelivered(
            **NOTIFICATION, channel=Channel.EMAIL, attempts=1, delivered_at=AT
        ),
        nt.NotificationFailed(
            **NOTIFICATION,
            channel=Channel.EMAIL,
            attempts=1,
            failure=FailureKind.PERMANENT,
            reason="550 5.1.1 mailbox unavailable",
            failed_at=AT,
        ),
        nt.UnsubscribeRequested(
            client_id=CLIENT,
            person_id=PERSON,
            channel=Channel.EMAIL,
            requested_at=AT,
            method=UnsubscribeMethod.ONE_CLICK,
            notification_id="ntf-1",
        ),
    ]
