"""Sales model use cases: define, version, publish; mine one from closed deals."""

from __future__ import annotations

from crm_contracts.values import ProposalStatus, SalesModelOrigin
from crm_kit.clock import utc_now
from crm_kit.problems import NotFound
from crm_kit.runtime import Runtime

from crm_proposals import events
from crm_proposals.commands import AddModelVersion, Caller, DefineSalesModel, PublishSalesModel
from crm_proposals.domain.errors import InvalidValue
from crm_proposals.domain.mining import Deal, DealStep, MinedModel, mine, step_key
from crm_proposals.domain.plan import ModelStep, StepState, new_id
from crm_proposals.domain.proposal import Proposal
from crm_proposals.domain.sales_model import SalesModel, define_model
from crm_proposals.handlers import check_version
from crm_proposals.repository.proposals import MiningState, ProposalRepository
from crm_proposals.repository.sales_models import SalesModelRepository

OPEN = (ProposalStatus.DRAFT, ProposalStatus.PRESENTED, ProposalStatus.NEGOTIATION)


async def define(runtime: Runtime, command: DefineSalesModel) -> SalesModel:
    model = define_model(
        model_id=new_id(),
        name=command.name,
        description=command.description,
        origin=SalesModelOrigin.ANALYST,
        steps=command.steps,
        now=utc_now(),
    )
    return await SalesModelRepository(runtime).add(model, [])


async def get(runtime: Runtime, model_id: str) -> SalesModel:
    model = await SalesModelRepository(runtime).get(model_id)
    if model is None:
        raise NotFound(f"sales model {model_id} not found")
    return model


async def add_version(runtime: Runtime, command: AddModelVersion) -> SalesModel:
    model = await get(runtime, command.model_id)
    check_version("sales model", model.model_id, model.version, command.expected_version)
    model.add_version(command.steps, utc_now())
    return await SalesModelRepository(runtime).save(
        model, [], expected_version=command.expected_version
    )


async def publish(runtime: Runtime, command: PublishSalesModel, caller: Caller) -> SalesModel:
    model = await get(runtime, command.model_id)
    check_version("sales model", model.model_id, model.version, command.expected_version)
    published = model.publish(command.version, utc_now())
    return await SalesModelRepository(runtime).save(
        model,
        [events.model_published(model, published, caller.subject)],
        expected_version=command.expected_version,
    )


async def list_models(
    runtime: Runtime, *, cursor: str | None, limit: int | None
) -> tuple[list[SalesModel], str | None]:
    return await SalesModelRepository(runtime).list(cursor=cursor, limit=limit)


def _deal(p: Proposal) -> Deal:
    assert p.plan is not None
    return Deal(
        proposal_id=p.proposal_id,
        won=p.status is ProposalStatus.WON,
        plan_started_at=p.plan.generated_at,
        steps=tuple(
            DealStep(
                key=step_key(s.model_step_id, s.title),
                title=s.title,
                done=s.state is StepState.DONE,
                completed_at=s.completed_at,
                started_at=s.started_at,
                department=s.department,
                role=s.role,
                approval=s.approval,
            )
            for s in p.plan.steps
        ),
    )


async def mined(runtime: Runtime) -> tuple[MinedModel, list[tuple[str, list[str]]]]:
    """The model mined from won and lost deals, and the open plans that skipped a decisive
    step of it (proposal id, the skipped steps' keys).

    Each run stores what it found: the decisive steps (by which a step skipped later is flagged
    at once) and the flag of every open proposal with a plan (``/proposals?flagged=true``).
    """
    repo = ProposalRepository(runtime)
    deals = [
        _deal(p)
        async for p in repo.scan(statuses=[ProposalStatus.WON, ProposalStatus.LOST], with_plan=True)
    ]
    model = mine(deals)
    decisive = model.decisive_keys
    await MiningState(runtime).save(decisive, model.won_deals, model.lost_deals, utc_now())
    flagged: list[tuple[str, list[str]]] = []
    live = [p async for p in repo.scan(statuses=OPEN, with_plan=True)]
    for p in live:
        if p.refresh_flags(decisive):
            await repo.set_flags(p.proposal_id, p.flagged_steps)
        if p.flagged_steps:
            flagged.append((p.proposal_id, list(p.flagged_steps)))
    return model, flagged


async def publish_mined(
    runtime: Runtime, name: str, description: str | None, caller: Caller
) -> SalesModel:
    found, _ = await mined(runtime)
    if not found.steps:
        raise InvalidValue("there are no won deals with plans to mine a model from", field="body")
    now = utc_now()
    model = define_model(
        model_id=new_id(),
        name=name,
        description=description,
        origin=SalesModelOrigin.MINED,
        steps=[
            ModelStep(
                step_id=s.step_id,
                title=s.title,
                offset_days=s.offset_days,
                department=s.department,
                role=s.role,
                depends_on=s.depends_on,
                approval=s.approval,
            )
            for s in found.steps
        ],
        now=now,
        deals_count=found.won_deals,
    )
    published = model.publish(None, now)
    return await SalesModelRepository(runtime).add(
        model, [events.model_published(model, published, caller.subject)]
    )
