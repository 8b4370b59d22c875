"""Action plans and their steps. A step's ETag is its proposal's version: the plan lives in
the proposal document, so any change to the proposal moves it."""

from __future__ import annotations

from typing import Annotated, Literal

from crm_kit.clock import utc_now
from crm_kit.http import MAX_ID_LENGTH, IdPath
from crm_kit.problems import NotFound, problem_responses
from crm_kit.runtime import RuntimeDep
from fastapi import APIRouter, Query, Response, status

from crm_proposals.api import views
from crm_proposals.api.common import IfMatch, Reader, Writer, caller_of, expected_version, set_etag
from crm_proposals.commands import ActOnStep, AddStep, AssignStep, GeneratePlan
from crm_proposals.domain.plan import StepSpec
from crm_proposals.handlers import plans as handlers
from crm_proposals.handlers import proposals as proposal_handlers
from crm_proposals.schemas import AssignIn, BlockIn, PlanCreate, PlanOut, StepAdd, StepOut
from crm_proposals.schemas.plans import AssignedStepList, AssignedStepOut

router = APIRouter(tags=["plans"])
WRITE_ERRORS = problem_responses(404, 409, 412, 422, 428)


@router.put(
    "/proposals/{proposal_id}/plan",
    responses=WRITE_ERRORS,
    summary="Generate the plan from a published sales model, or enter it by hand "
    "(replaces any earlier plan; publishes PlanGenerated and PlanStepAssigned)",
)
async def put_plan(
    proposal_id: IdPath,
    body: PlanCreate,
    runtime: RuntimeDep,
    _: Writer,
    response: Response,
    if_match: IfMatch = None,
) -> PlanOut:
    steps = (
        tuple(
            StepSpec(
                key=s.key,
                title=s.title,
                department=s.department,
                role=s.role,
                assignee_id=s.assignee_id,
                due_on=s.due_on,
                depends_on=tuple(s.depends_on),
                required=s.required,
                approval=s.approval,
            )
            for s in body.steps
        )
        if body.steps is not None
        else None
    )
    command = GeneratePlan(
        proposal_id=proposal_id,
        expected_version=expected_version(if_match),
        sales_model_id=body.sales_model_id,
        steps=steps,
        starts_on=body.starts_on,
        assignees=tuple(sorted(body.assignees.items())),
    )
    proposal = await handlers.generate(runtime, command)
    set_etag(response, proposal.version)
    return views.plan(proposal, utc_now().date())


@router.get(
    "/proposals/{proposal_id}/plan",
    responses=problem_responses(404),
    summary="The plan with its progress: done of total, overdue, next steps, expected finish",
)
async def get_plan(
    proposal_id: IdPath, runtime: RuntimeDep, _: Reader, response: Response
) -> PlanOut:
    proposal = await proposal_handlers.get(runtime, proposal_id)
    if proposal.plan is None:
        raise NotFound(f"proposal {proposal_id} has no plan yet")
    set_etag(response, proposal.version)
    return views.plan(proposal, utc_now().date())


@router.post(
    "/proposals/{proposal_id}/plan/steps",
    status_code=status.HTTP_201_CREATED,
    responses=WRITE_ERRORS,
    summary="Add a step by hand to the plan",
)
async def add_step(
    proposal_id: IdPath,
    body: StepAdd,
    runtime: RuntimeDep,
    _: Writer,
    response: Response,
    if_match: IfMatch = None,
) -> StepOut:
    spec = StepSpec(
        key="new",
        title=body.title,
        department=body.department,
        role=body.role,
        assignee_id=body.assignee_id,
        due_on=body.due_on,
        depends_on=tuple(body.depends_on),
        required=body.required,
        approval=body.approval,
    )
    proposal, step = await handlers.add_step(
        runtime, AddStep(proposal_id, expected_version(if_match), spec)
    )
    set_etag(response, proposal.version)
    response.headers["Location"] = f"/steps/{step.step_id}"
    return views.step(proposal.proposal_id, step)


@router.get(
    "/steps",
    summary="One person's unfinished plan steps across open proposals, overdue first",
    description="For a to-do list (the console's My work): every step that is not done or "
    "skipped, assigned to `assignee_id`, on a proposal still in draft, presented or "
    "negotiation.",
)
async def steps_assigned_to(
    runtime: RuntimeDep,
    _: Reader,
    assignee_id: Annotated[str, Query(min_length=1, max_length=MAX_ID_LENGTH)],
) -> AssignedStepList:
    found = await handlers.steps_assigned_to(runtime, assignee_id)
    return AssignedStepList(
        items=[
            AssignedStepOut(
                **views.step(proposal.proposal_id, step).model_dump(),
                proposal_title=proposal.current.title,
                client_id=proposal.client_id,
                overdue=overdue,
            )
            for proposal, step, overdue in found.steps
        ],
        truncated=found.truncated,
    )


@router.get("/steps/{step_id}", responses=problem_responses(404), summary="One plan step")
async def get_step(step_id: IdPath, runtime: RuntimeDep, _: Reader, response: Response) -> StepOut:
    proposal, step = await handlers.get_step(runtime, step_id)
    set_etag(response, proposal.version)
    return views.step(proposal.proposal_id, step)


@router.post(
    "/steps/{step_id}/block", responses=WRITE_ERRORS, summary="Block a ready or started step"
)
async def block_step(
    step_id: IdPath,
    body: BlockIn,
    runtime: RuntimeDep,
    caller: Writer,
    response: Response,
    if_match: IfMatch = None,
) -> StepOut:
    command = ActOnStep(step_id, expected_version(if_match), "block", body.reason)
    proposal, step = await handlers.act(runtime, command, caller_of(caller))
    set_etag(response, proposal.version)
    return views.step(proposal.proposal_id, step)


@router.post(
    "/steps/{step_id}/{action}",
    responses=WRITE_ERRORS,
    summary="Move a step: start, complete, skip (if not required), block, unblock "
    "(complete and skip publish PlanStepCompleted)",
)
async def act_on_step(
    step_id: IdPath,
    action: Literal["start", "complete", "skip", "unblock"],
    runtime: RuntimeDep,
    caller: Writer,
    response: Response,
    if_match: IfMatch = None,
) -> StepOut:
    command = ActOnStep(step_id, expected_version(if_match), action)
    proposal, step = await handlers.act(runtime, command, caller_of(caller))
    set_etag(response, proposal.version)
    return views.step(proposal.proposal_id, step)


@router.put(
    "/steps/{step_id}/assignee",
    responses=WRITE_ERRORS,
    summary="Assign a step to an employee of any department (publishes PlanStepAssigned)",
)
async def assign_step(
    step_id: IdPath,
    body: AssignIn,
    runtime: RuntimeDep,
    _: Writer,
    response: Response,
    if_match: IfMatch = None,
) -> StepOut:
    command = AssignStep(step_id, expected_version(if_match), body.assignee_id, body.due_on)
    proposal, step = await handlers.assign(runtime, command)
    set_etag(response, proposal.version)
    return views.step(proposal.proposal_id, step)
