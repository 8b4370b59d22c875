"""Every refusal of one request at once, not only the first.

A request may be wrong in several places the schema cannot see (two people's e-mail addresses,
a tax id and a name): each independent check runs, what it refuses is kept, and the caller hears
of all of it in one answer. Pure Python, so a domain may use it::

    refusals = Refusals(InvalidInputError)
    with refusals.check():
        name = clean_name(raw_name)
    with refusals.check():
        tax_id = normalise_tax_id(raw_tax_id, country)
    refusals.raise_if_any()  # one refusal as itself, several as one ``Refused``

An exception carrying ``errors`` (each an exception with an optional ``field``, the request path
of the offending value) is rendered by ``crm_kit.problems`` as one problem listing each.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence


class Refused(Exception):
    """Several refusals of one request; ``errors`` holds each, in the order they were found."""

    def __init__(self, errors: Sequence[Exception]) -> None:
        self.errors: tuple[Exception, ...] = tuple(flatten(errors))
        super().__init__(f"{len(self.errors)} values are invalid; see errors")


def flatten(errors: Sequence[Exception]) -> Iterator[Exception]:
    """The single refusals inside ``errors`` (one carrying ``errors`` stands for those)."""
    for error in errors:
        nested = _refusal_list(getattr(error, "errors", None))
        if nested:
            yield from flatten(nested)
        else:
            yield error


def _refusal_list(value: object) -> tuple[Exception, ...]:
    if isinstance(value, tuple | list) and all(isinstance(e, Exception) for e in value):
        return tuple(value)
    return ()


def refusals_of(exc: BaseException) -> tuple[Exception, ...]:
    """The refusals an exception stands for: the ones it carries in ``errors``, else none."""
    return tuple(flatten(_refusal_list(getattr(exc, "errors", None))))


class Refusals:
    """Collects the refusals of independent checks; only the ``kinds`` given (and a
    ``Refused`` of a nested collector) are collected, any other exception passes straight
    through."""

    def __init__(self, *kinds: type[Exception]) -> None:
        self.kinds: tuple[type[Exception], ...] = (Refused, *(kinds or (Exception,)))
        self.found: list[Exception] = []

    @contextlib.contextmanager
    def check(self, prefix: Callable[[Exception], None] | None = None) -> Iterator[None]:
        """Run the block; a refusal of the collected kinds is kept (after ``prefix`` adjusts
        it, e.g. to say where in the request it is) and the code after the block goes on."""
        try:
            yield
        except self.kinds as exc:
            found = list(refusals_of(exc)) or [exc]
            if prefix is not None:
                for error in found:
                    prefix(error)
            self.found.extend(found)

    def __bool__(self) -> bool:
        return bool(self.found)

    def raise_if_any(self) -> None:
        """Refuse with what was found: one refusal as itself, several as one ``Refused``."""
        if len(self.found) == 1:
            raise self.found[0]
        if self.found:
            raise Refused(self.found)
