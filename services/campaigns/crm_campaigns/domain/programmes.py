"""Promotion programmes: the target portrait, what is promoted, the period and the budget."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from crm_campaigns.domain.errors import InvalidAmount, InvalidSchedule
from crm_campaigns.domain.money import Money


@dataclass(frozen=True)
class Portrait:
    """A filter over the client projection; an empty tuple means "any", all others must hold."""

    statuses: tuple[str, ...] = ()
    field_of_activity_codes: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    sizes: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    """A client matches when it carries at least one of these tags."""

    def matches(
        self,
        *,
        status: str,
        field_of_activity: str | None,
        region: str | None,
        size: str | None,
        tags: tuple[str, ...],
    ) -> bool:
        return (
            (not self.statuses or status in self.statuses)
            and (
                not self.field_of_activity_codes
                or field_of_activity in self.field_of_activity_codes
            )
            and (not self.regions or region in self.regions)
            and (not self.sizes or size in self.sizes)
            and (not self.tags or bool(set(self.tags) & set(tags)))
        )


@dataclass
class Programme:
    programme_id: str
    name: str
    portrait: Portrait
    starts_on: date
    ends_on: date
    defined_at: datetime
    promoted_item_codes: tuple[str, ...] = ()
    budget: Money | None = None
    version: int = 0

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise InvalidSchedule("a programme needs a name", field="name")
        if self.ends_on < self.starts_on:
            raise InvalidSchedule("the programme must not end before it starts", field="ends_on")
        if self.budget is not None and self.budget.amount_minor < 0:
            raise InvalidAmount("the budget must not be negative", field="budget.amount_minor")
