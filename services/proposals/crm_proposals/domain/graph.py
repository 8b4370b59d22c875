"""Dependency graphs of steps: known references and no cycles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from crm_proposals.domain.errors import DependencyCycle, UnknownReference


def check_dag(depends_on: Mapping[str, Sequence[str]], *, field: str = "body.steps") -> list[str]:
    """The keys in an order where every key follows its dependencies.

    Refuses a dependency on an unknown key and a cycle, naming the keys involved.
    """
    keys = list(depends_on)
    for index, key in enumerate(keys):
        for dep in depends_on[key]:
            if dep not in depends_on:
                raise UnknownReference(
                    f"step {key!r} depends on {dep!r}, which is not a step of this plan",
                    field=f"{field}[{index}].depends_on",
                )
            if dep == key:
                raise DependencyCycle(
                    f"step {key!r} depends on itself", field=f"{field}[{index}].depends_on"
                )
    remaining = {key: set(depends_on[key]) for key in keys}
    order: list[str] = []
    while remaining:
        free = [key for key in keys if key in remaining and not remaining[key]]
        if not free:
            cycle = sorted(remaining)
            first = keys.index(cycle[0])
            raise DependencyCycle(
                f"the dependencies of steps {', '.join(cycle)} form a cycle",
                field=f"{field}[{first}].depends_on",
            )
        for key in free:
            order.append(key)
            del remaining[key]
        for deps in remaining.values():
            deps.difference_update(free)
    return order
