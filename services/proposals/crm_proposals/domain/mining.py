"""A sales model mined from the plans of closed deals.

Rules (all integer arithmetic):
- a step is identified by the sales model step it came from, else by its title in lower case;
- a step belongs to the mined model when it was done in at least half of the won deals;
- its offset is the median, over the won deals that did it, of whole days from the plan's start
  to the step's completion; its duration the median of whole hours from start to completion;
  a median of an even count is the mean of the middle two, rounded half up;
- steps are ordered by offset (then by key), and each depends on the one before it;
- ``won_share_bp``/``lost_share_bp`` are the share of won/lost deals that did the step, in basis
  points rounded down; a step is decisive when the won share exceeds the lost share by at least
  half (5,000 bp).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from crm_contracts.values import Department

DECISIVE_MARGIN_BP = 5_000


@dataclass(frozen=True)
class DealStep:
    key: str
    title: str
    done: bool
    completed_at: datetime | None = None
    started_at: datetime | None = None
    department: Department | None = None
    role: str | None = None
    approval: bool = False


@dataclass(frozen=True)
class Deal:
    proposal_id: str
    won: bool
    plan_started_at: datetime
    steps: tuple[DealStep, ...]


@dataclass(frozen=True)
class MinedStep:
    step_id: str
    title: str
    department: Department | None
    role: str | None
    approval: bool
    offset_days: int
    median_duration_hours: int | None
    depends_on: tuple[str, ...]
    won_deals: int
    """Won deals that did this step."""
    lost_deals: int
    won_share_bp: int
    lost_share_bp: int
    decisive: bool


@dataclass(frozen=True)
class MinedModel:
    won_deals: int
    lost_deals: int
    steps: tuple[MinedStep, ...]

    @property
    def decisive_keys(self) -> frozenset[str]:
        return frozenset(s.step_id for s in self.steps if s.decisive)


def step_key(model_step_id: str | None, title: str) -> str:
    return model_step_id or " ".join(title.lower().split())


def median_half_up(values: Sequence[int]) -> int:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    low, high = ordered[middle - 1], ordered[middle]
    total = low + high
    # Half up also for negative sums: floor((total + 1) / 2).
    return (total + 1) // 2


def _share_bp(count: int, of: int) -> int:
    return count * 10_000 // of if of else 0


def mine(deals: Sequence[Deal]) -> MinedModel:
    won = [d for d in deals if d.won]
    lost = [d for d in deals if not d.won]
    done_in: dict[str, list[tuple[Deal, DealStep]]] = {}
    for deal in deals:
        seen: set[str] = set()
        for step in deal.steps:
            if step.done and step.key not in seen:
                seen.add(step.key)
                done_in.setdefault(step.key, []).append((deal, step))
    candidates: list[tuple[int, str, MinedStep]] = []
    for key, occurrences in done_in.items():
        in_won = [(d, s) for d, s in occurrences if d.won]
        in_lost = [(d, s) for d, s in occurrences if not d.won]
        if not in_won or 2 * len(in_won) < len(won):
            continue
        offsets = [
            (s.completed_at.date() - d.plan_started_at.date()).days
            for d, s in in_won
            if s.completed_at is not None
        ]
        hours = [
            int((s.completed_at - s.started_at).total_seconds()) // 3600
            for _, s in in_won
            if s.completed_at is not None and s.started_at is not None
        ]
        first = in_won[0][1]
        won_bp, lost_bp = _share_bp(len(in_won), len(won)), _share_bp(len(in_lost), len(lost))
        offset = max(0, median_half_up(offsets)) if offsets else 0
        candidates.append(
            (
                offset,
                key,
                MinedStep(
                    step_id=key,
                    title=first.title,
                    department=first.department,
                    role=first.role,
                    approval=first.approval,
                    offset_days=offset,
                    median_duration_hours=median_half_up(hours) if hours else None,
                    depends_on=(),
                    won_deals=len(in_won),
                    lost_deals=len(in_lost),
                    won_share_bp=won_bp,
                    lost_share_bp=lost_bp,
                    decisive=won_bp - lost_bp >= DECISIVE_MARGIN_BP,
                ),
            )
        )
    candidates.sort(key=lambda c: (c[0], c[1]))
    steps: list[MinedStep] = []
    for _, _, mined in candidates:
        previous = (steps[-1].step_id,) if steps else ()
        steps.append(replace(mined, depends_on=previous))
    return MinedModel(won_deals=len(won), lost_deals=len(lost), steps=tuple(steps))
