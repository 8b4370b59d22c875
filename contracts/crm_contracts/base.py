"""The base of every contract event and of the value objects nested in them."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from crm_contracts.registry import register


class ContractModel(BaseModel):
    """A frozen value object inside an event.

    Unknown fields are ignored so that a reader built against an older contract tolerates
    optional fields added later by a newer producer.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        use_attribute_docstrings=True,
    )


class ContractEvent(ContractModel):
    """A fact one service publishes for the others: past tense, frozen, additive-only.

    A concrete event sets ``event_type`` (its name on the wire, independent of the Python
    class name), ``topic`` (usually through its service's base class) and defines
    ``aggregate_key`` (the Kafka key that keeps one aggregate's facts in order). Defining such a
    class registers it in ``crm_contracts.registry``.
    """

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        # Service base classes set only ``topic``; the events themselves set ``event_type``.
        if "event_type" in cls.__dict__:
            register(cls)

    @abstractmethod
    def aggregate_key(self) -> str:
        """The id of the aggregate this fact is about, used as the Kafka message key."""
