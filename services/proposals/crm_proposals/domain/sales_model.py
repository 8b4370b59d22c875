"""Sales models: versioned step templates analysts keep; one version at a time is published."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from crm_contracts.values import SalesModelOrigin

from crm_proposals.domain.errors import IllegalTransition, InvalidValue, UnknownReference
from crm_proposals.domain.graph import check_dag
from crm_proposals.domain.plan import ModelStep


@dataclass(frozen=True)
class ModelVersion:
    version: int
    steps: tuple[ModelStep, ...]
    created_at: datetime
    published_at: datetime | None = None


@dataclass
class SalesModel:
    model_id: str
    name: str
    description: str | None
    origin: SalesModelOrigin
    versions: list[ModelVersion] = field(default_factory=list)
    published_version: int | None = None
    deals_count: int | None = None
    version: int = 1
    """The stored document's version (If-Match), not a model version."""

    def get(self, number: int) -> ModelVersion:
        for v in self.versions:
            if v.version == number:
                return v
        raise UnknownReference(f"the model has no version {number}", field="body.version")

    def add_version(self, steps: Sequence[ModelStep], now: datetime) -> ModelVersion:
        added = ModelVersion(len(self.versions) + 1, validate_steps(steps), now)
        self.versions.append(added)
        return added

    def publish(self, number: int | None, now: datetime) -> ModelVersion:
        target = self.get(number if number is not None else self.versions[-1].version)
        if target.published_at is not None and self.published_version == target.version:
            raise IllegalTransition(
                f"version {target.version} is already the published one", field="body.version"
            )
        published = ModelVersion(target.version, target.steps, target.created_at, now)
        self.versions = [published if v.version == target.version else v for v in self.versions]
        self.published_version = target.version
        return published

    def published(self) -> ModelVersion:
        if self.published_version is None:
            raise IllegalTransition(
                f"sales model {self.model_id} has no published version",
                field="body.sales_model_id",
            )
        return self.get(self.published_version)


def validate_steps(steps: Sequence[ModelStep]) -> tuple[ModelStep, ...]:
    if not steps:
        raise InvalidValue("a sales model needs at least one step", field="body.steps")
    ids = [s.step_id for s in steps]
    for index, step in enumerate(steps):
        if ids.index(step.step_id) != index:
            raise InvalidValue(
                f"step id {step.step_id!r} appears twice", field=f"body.steps[{index}].step_id"
            )
        if step.offset_days < 0:
            raise InvalidValue(
                "an offset counts days from the plan's start and may not be negative",
                field=f"body.steps[{index}].offset_days",
            )
    check_dag({s.step_id: s.depends_on for s in steps})
    return tuple(steps)


def define_model(
    *,
    model_id: str,
    name: str,
    description: str | None,
    origin: SalesModelOrigin,
    steps: Sequence[ModelStep],
    now: datetime,
    deals_count: int | None = None,
) -> SalesModel:
    if not name.strip():
        raise InvalidValue("a sales model needs a name", field="body.name")
    model = SalesModel(model_id, name.strip(), description, origin, deals_count=deals_count)
    model.add_version(steps, now)
    return model
