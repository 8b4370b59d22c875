"""Action plan use cases: generate or enter a plan, add steps, move and assign steps."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from crm_contracts.base import ContractEvent
from crm_contracts.values import PlanOrigin
from crm_kit import access
from crm_kit.clock import utc_now
from crm_kit.problems import Forbidden, NotFound
from crm_kit.runtime import Runtime

from crm_proposals import events
from crm_proposals.commands import ActOnStep, AddStep, AssignStep, Caller, GeneratePlan
from crm_proposals.domain.errors import InvalidValue, UnknownReference
from crm_proposals.domain.plan import Plan, Step, build_plan, specs_from_model
from crm_proposals.domain.progress import OPEN_PROPOSAL, assigned_open_steps
from crm_proposals.domain.proposal import Proposal
from crm_proposals.handlers import check_version
from crm_proposals.handlers.proposals import load_for_change
from crm_proposals.projections import Projections
from crm_proposals.repository.proposals import MiningState, ProposalRepository
from crm_proposals.repository.sales_models import SalesModelRepository


async def _check_assignees(runtime: Runtime, wanted: Iterable[tuple[str, str]]) -> None:
    pairs = list(wanted)
    known = await Projections(runtime.db).employees({a for _, a in pairs})
    for where, assignee in pairs:
        if assignee not in known or not known[assignee].active:
            raise UnknownReference(f"employee {assignee} is not an active employee", field=where)


async def _client_name(runtime: Runtime, client_id: str) -> str | None:
    client = await Projections(runtime.db).client(client_id)
    return client.name if client else None


async def generate(runtime: Runtime, command: GeneratePlan) -> Proposal:
    proposal = await load_for_change(runtime, command.proposal_id, command.expected_version)
    now = utc_now()
    starts_on = command.starts_on or now.date()
    if (command.sales_model_id is None) == (command.steps is None):
        raise InvalidValue(
            "give either a sales_model_id to generate from or the steps", field="body.steps"
        )
    if command.sales_model_id is not None:
        model = await SalesModelRepository(runtime).get(command.sales_model_id)
        if model is None:
            raise UnknownReference(
                f"there is no sales model {command.sales_model_id}", field="body.sales_model_id"
            )
        published = model.published()
        await _check_assignees(runtime, [(f"body.assignees.{k}", v) for k, v in command.assignees])
        plan = build_plan(
            specs_from_model(published.steps, starts_on, dict(command.assignees)),
            origin=PlanOrigin.SALES_MODEL,
            now=now,
            starts_on=starts_on,
            sales_model_id=model.model_id,
            sales_model_version=published.version,
        )
    else:
        assert command.steps is not None
        await _check_assignees(
            runtime,
            [
                (f"body.steps[{i}].assignee_id", s.assignee_id)
                for i, s in enumerate(command.steps)
                if s.assignee_id
            ],
        )
        plan = build_plan(command.steps, origin=PlanOrigin.MANUAL, now=now, starts_on=starts_on)
    proposal.replace_plan(plan)
    proposal.refresh_flags(await MiningState(runtime).decisive())
    name = await _client_name(runtime, proposal.client_id)
    outgoing: list[ContractEvent] = [events.plan_generated(proposal, plan)]
    outgoing += [
        events.step_assigned(proposal, plan, s, None, name, now)
        for s in plan.steps
        if s.assignee_id
    ]
    return await ProposalRepository(runtime).save(
        proposal, outgoing, expected_version=command.expected_version, flags=True
    )


async def add_step(runtime: Runtime, command: AddStep) -> tuple[Proposal, Step]:
    proposal = await load_for_change(runtime, command.proposal_id, command.expected_version)
    plan = proposal.live_plan()
    if command.step.assignee_id:
        await _check_assignees(runtime, [("body.assignee_id", command.step.assignee_id)])
    step = plan.add_step(command.step)
    outgoing: list[ContractEvent] = []
    if step.assignee_id:
        name = await _client_name(runtime, proposal.client_id)
        outgoing.append(events.step_assigned(proposal, plan, step, None, name, utc_now()))
    saved = await ProposalRepository(runtime).save(
        proposal, outgoing, expected_version=command.expected_version
    )
    return saved, step


async def _load_by_step(runtime: Runtime, step_id: str) -> Proposal:
    proposal = await ProposalRepository(runtime).get_by_step(step_id)
    if proposal is None:
        raise NotFound(f"step {step_id} not found")
    return proposal


ASSIGNED_PROPOSALS_LIMIT = 200
"""The most proposals whose steps one person's list gathers (the most recent first)."""


@dataclass(frozen=True)
class AssignedSteps:
    steps: list[tuple[Proposal, Step, bool]]
    """Each open step with its proposal and whether it is overdue, overdue first."""
    truncated: bool
    """More proposals hold this person's steps than the list gathered."""


async def steps_assigned_to(runtime: Runtime, assignee_id: str) -> AssignedSteps:
    """The unfinished steps of open proposals that ``assignee_id`` holds."""
    found = await ProposalRepository(runtime).with_open_steps_of(
        assignee_id, [s.value for s in OPEN_PROPOSAL], ASSIGNED_PROPOSALS_LIMIT + 1
    )
    kept = found[:ASSIGNED_PROPOSALS_LIMIT]
    by_id = {p.proposal_id: p for p in kept}
    plans = [(p.proposal_id, p.plan) for p in kept if p.plan is not None]
    steps = assigned_open_steps(plans, assignee_id, utc_now().date())
    return AssignedSteps(
        [(by_id[pid], step, overdue) for pid, step, overdue in steps],
        truncated=len(found) > ASSIGNED_PROPOSALS_LIMIT,
    )


async def get_step(runtime: Runtime, step_id: str) -> tuple[Proposal, Step]:
    proposal = await _load_by_step(runtime, step_id)
    assert proposal.plan is not None
    return proposal, proposal.plan.step(step_id)


async def act(runtime: Runtime, command: ActOnStep, caller: Caller) -> tuple[Proposal, Step]:
    proposal = await _load_by_step(runtime, command.step_id)
    check_version("proposal", proposal.proposal_id, proposal.version, command.expected_version)
    plan: Plan = proposal.live_plan()
    await _check_may_move(runtime, proposal, plan.step(command.step_id), command.action, caller)
    now = utc_now()
    outgoing: list[ContractEvent] = []
    if command.action == "start":
        step = plan.start(command.step_id, now)
    elif command.action == "complete":
        step = proposal.complete_step(command.step_id, caller.subject, now)
        outgoing.append(events.step_completed(proposal, plan, step))
    elif command.action == "skip":
        step = plan.skip(command.step_id, caller.subject, now)
        outgoing.append(events.step_completed(proposal, plan, step))
    elif command.action == "block":
        step = plan.block(command.step_id, command.reason or "")
    elif command.action == "unblock":
        step = plan.unblock(command.step_id)
    else:  # the router only routes the five actions
        raise InvalidValue(f"unknown action {command.action}", field="path.action")
    if command.action == "skip":
        # Flag at once a skipped step the latest mined model holds decisive.
        proposal.refresh_flags(await MiningState(runtime).decisive())
    saved = await ProposalRepository(runtime).save(
        proposal,
        outgoing,
        expected_version=command.expected_version,
        flags=command.action == "skip",
    )
    assert saved.plan is not None
    return saved, saved.plan.step(command.step_id)


async def _check_may_move(
    runtime: Runtime, proposal: Proposal, step: Step, action: str, caller: Caller
) -> None:
    """The data rules of ``crm_kit.access`` for a step: four eyes on an approval, and a person
    moves only their own step or, as a department head, one of their department's."""
    if action == "complete" and step.approval:
        if access.DISCOUNT_APPROVER not in caller.roles or caller.employee_id is None:
            raise Forbidden(
                "an approval step is completed by a person with the discount-approver role",
                extra={"rule": "four-eyes", "allowed_roles": [access.DISCOUNT_APPROVER]},
            )
        client = await Projections(runtime.db).client(proposal.client_id)
        curator = client.curator_id if client else None
        if caller.employee_id in {proposal.registered_by, proposal.curator_id, curator}:
            raise Forbidden(
                "four eyes: the proposal's author or its client's curator may not approve its "
                "discount",
                extra={"rule": "four-eyes"},
            )
        return
    if action not in ("start", "complete", "skip") or access.INTEGRATION in caller.roles:
        return
    if step.assignee_id is None or step.assignee_id == caller.employee_id:
        return
    if access.DEPARTMENT_HEAD in caller.roles and caller.employee_id is not None:
        known = await Projections(runtime.db).employees({step.assignee_id, caller.employee_id})
        mine, theirs = known.get(caller.employee_id), known.get(step.assignee_id)
        if mine and theirs and mine.department is not None and mine.department == theirs.department:
            return
    raise Forbidden(
        f"step {step.step_id} is assigned to employee {step.assignee_id}: only they or the head "
        "of their department may move it",
        extra={"rule": "step-assignee"},
    )


async def assign(runtime: Runtime, command: AssignStep) -> tuple[Proposal, Step]:
    proposal = await _load_by_step(runtime, command.step_id)
    check_version("proposal", proposal.proposal_id, proposal.version, command.expected_version)
    plan = proposal.live_plan()
    await _check_assignees(runtime, [("body.assignee_id", command.assignee_id)])
    previous = plan.step(command.step_id).assignee_id
    step = plan.assign(command.step_id, command.assignee_id, command.due_on)
    name = await _client_name(runtime, proposal.client_id)
    event = events.step_assigned(proposal, plan, step, previous, name, utc_now())
    saved = await ProposalRepository(runtime).save(
        proposal, [event], expected_version=command.expected_version
    )
    assert saved.plan is not None
    return saved, saved.plan.step(command.step_id)
