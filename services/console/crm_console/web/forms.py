"""What the console's forms share: reading what was typed (money, percentages, dates and times
in Moscow), and placing a service's problem+json field errors next to the field they name.

A form field is named after the API field it fills: ``body.lines[0].quantity`` is shown next to
``lines-0-quantity``. A field the form does not have keeps the problem at the top of the form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from crm_console.apis import ApiProblem
from crm_console.i18n import ZONE

_INDEX = re.compile(r"\[(\d+)\]")
_SPACES = re.compile(r"[\s\u00a0\u202f]")


def form_name(api_field: str) -> str:
    """``body.lines[0].discount.basis_points`` → ``lines-0-discount-basis_points``."""
    path = api_field.removeprefix("body.").removeprefix("body")
    path = _INDEX.sub(r".\1", path)
    return "-".join(p for p in path.split(".") if p)


@dataclass
class FormErrors:
    """Errors by form field; ``problem`` is the service's answer (shown at the top when one of
    its errors names no field of the form)."""

    fields: dict[str, str] = field(default_factory=dict)
    problem: ApiProblem | None = None
    unplaced: bool = False

    def add(self, name: str, message: str) -> None:
        self.fields.setdefault(name, message)

    def __bool__(self) -> bool:
        return bool(self.fields) or self.problem is not None

    def get(self, name: str) -> str | None:
        return self.fields.get(name)

    def place(self, problem: ApiProblem, known: Mapping[str, str]) -> FormErrors:
        """Put each of the problem's field errors next to the form field its path maps to:
        ``known`` maps a form field name's prefix (``lines-0-discount``) to the field shown."""
        self.problem = problem
        for error in problem.errors:
            name = form_name(str(error.get("field", "")))
            target = _longest_prefix(name, known)
            if target is None:
                self.unplaced = True
                continue
            self.add(known[target], str(error.get("message", "")))
        if not problem.errors:
            self.unplaced = True
        return self


def _longest_prefix(name: str, known: Mapping[str, str]) -> str | None:
    best = None
    for prefix in known:
        if (name == prefix or name.startswith(prefix + "-")) and (
            best is None or len(prefix) > len(best)
        ):
            best = prefix
    return best


def text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def decimal(value: str) -> Decimal | None:
    """``1 500,50`` or ``1500.50``; None when empty; raises ValueError when not a number."""
    cleaned = _SPACES.sub("", value).replace(",", ".")
    if not cleaned:
        return None
    try:
        number = Decimal(cleaned)
    except InvalidOperation as exc:
        raise ValueError(value) from exc
    if not number.is_finite():
        raise ValueError(value)
    return number


def minor_units(value: str, digits: int = 2) -> int | None:
    """Money typed in major units (``1 500,50``) as whole minor units."""
    number = decimal(value)
    if number is None:
        return None
    return int(number.scaleb(digits).to_integral_value())


def basis_points(value: str) -> int | None:
    """A percentage typed as ``12,5`` as basis points (1250)."""
    number = decimal(value)
    if number is None:
        return None
    return int(number.scaleb(2).to_integral_value())


def whole(value: str) -> int | None:
    number = decimal(value)
    if number is None:
        return None
    if number != number.to_integral_value():
        raise ValueError(value)
    return int(number)


def local_datetime(value: str) -> datetime | None:
    """A ``datetime-local`` input (Moscow time, as the console shows times) as an aware time."""
    if not value:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=ZONE)


def local_input(value: Any) -> str:
    """An ISO time from a service as a ``datetime-local`` input's value, in Moscow."""
    if not value:
        return ""
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed.astimezone(ZONE).strftime("%Y-%m-%dT%H:%M")


def iso_date(value: str) -> str | None:
    if not value:
        return None
    return date.fromisoformat(value).isoformat()
