"""Joining the calls that arrive together into one bulk call.

The kit's consumer hands a batch handler only the consecutive events of one Kafka key (a
lane), and contact records are keyed by client: with many clients, lanes hold one or two
events. The consumer runs up to ``Subscription.concurrency`` lanes at once, though, so their
calls arrive in the same turns of the event loop. A :class:`Gatherer` collects the calls made
within a few turns and makes one call of its bulk function for all their items. If that call
fails, each caller's items are tried again on their own, so every caller gets its own outcome
(the consumer then retries or dead-letters only the events that fail alone). The bulk function
must therefore be idempotent: items it wrote before failing are written again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from crm_kit.runtime import Runtime

T = TypeVar("T")

TURNS = 3
"""Event-loop turns a gathering stays open after its first call (no timer: nothing waits when
the calls do not come)."""


@dataclass
class _Gathering(Generic[T]):
    runtime: Runtime
    calls: list[tuple[Sequence[T], asyncio.Future[None]]] = field(default_factory=list)


class Gatherer(Generic[T]):
    def __init__(self, bulk: Callable[[Runtime, Sequence[T]], Awaitable[None]]) -> None:
        self.bulk = bulk
        self._open: dict[int, _Gathering[T]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.calls_made = 0
        """Bulk calls made so far (what the tests and the bench read)."""

    async def __call__(self, runtime: Runtime, items: Sequence[T]) -> None:
        loop = asyncio.get_running_loop()
        key = id(runtime)
        gathering = self._open.get(key)
        if gathering is None:
            gathering = self._open[key] = _Gathering(runtime)
            task = loop.create_task(self._flush(key))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        done: asyncio.Future[None] = loop.create_future()
        gathering.calls.append((items, done))
        await done

    async def _flush(self, key: int) -> None:
        for _ in range(TURNS):
            await asyncio.sleep(0)
        gathering = self._open.pop(key)
        calls = [c for c in gathering.calls if not c[1].done()]
        try:
            try:
                self.calls_made += 1
                await self.bulk(gathering.runtime, [item for items, _ in calls for item in items])
            except Exception as exc:
                if len(calls) == 1:
                    _settle(calls[0][1], exc)
                    return
                for items, done in calls:
                    try:
                        self.calls_made += 1
                        await self.bulk(gathering.runtime, items)
                    except Exception as alone:
                        _settle(done, alone)
                    else:
                        _settle(done, None)
                return
            for _, done in calls:
                _settle(done, None)
        finally:
            for _, done in calls:
                if not done.done():
                    done.cancel()


def _settle(done: asyncio.Future[None], error: Exception | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
