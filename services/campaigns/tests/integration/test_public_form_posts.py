"""The public forms' post counters on the real store, at chosen instants: a sliding window, so a
burst straddling two fixed windows is held to the limit, and a refusal's wait is honest."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from crm_campaigns.repository.throttle import PublicFormPosts

from .conftest import Campaigns

WINDOW = 60
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a window's start: 09:00 is a whole minute


async def posts(
    counter: PublicFormPosts, limit: int, at: list[float], key: str = "address:203.0.113.9"
) -> list[float | None]:
    """One post at each of ``at`` (seconds after START) against one key: each one's wait."""
    return [
        await counter.count({key: limit}, now=START + timedelta(seconds=s), window_s=WINDOW)
        for s in at
    ]


async def test_a_burst_straddling_two_windows_is_held_to_the_limit(campaigns: Campaigns) -> None:
    counter = PublicFormPosts(campaigns.runtime)
    # One post just before the minute, seven just after it: a fixed window would take 1 + 5.
    waits = await posts(counter, 5, [WINDOW - 0.5] + [WINDOW + 0.1 + i / 100 for i in range(7)])
    taken = [w is None for w in waits]
    assert taken == [True] * 5 + [False] * 3
    assert all(w is not None and w >= 1 for w in waits[5:])


async def test_the_previous_window_weighs_in_the_share_still_inside(campaigns: Campaigns) -> None:
    counter = PublicFormPosts(campaigns.runtime)
    # Four at the start of a window, the limit; half-way through the next, half of them count.
    waits = await posts(counter, 4, [1, 2, 3, 4, WINDOW + 30, WINDOW + 30.5, WINDOW + 31])
    assert [w is None for w in waits] == [True] * 4 + [True, True, False]
    # Three posts of this window (the refused one counts) leave room for one more only once
    # the previous window has slid out entirely, at 120 s.
    assert waits[-1] is not None
    assert math.isclose(waits[-1], 2 * WINDOW - (WINDOW + 31))


async def test_a_post_after_the_wait_is_taken(campaigns: Campaigns) -> None:
    counter = PublicFormPosts(campaigns.runtime)
    for limit, at in [(3, [10.0, 11, 12, 13]), (5, [50.0, 55, 59, 61, 62, 63]), (2, [1.0] * 6)]:
        key = f"link:limit-{limit}"
        waits = await posts(counter, limit, at, key)
        assert waits[-1] is not None, (limit, waits)
        [again] = await posts(counter, limit, [at[-1] + math.ceil(waits[-1])], key)
        assert again is None, (limit, waits)


async def test_any_key_over_its_limit_refuses_and_others_do_not_count_it(
    campaigns: Campaigns,
) -> None:
    counter = PublicFormPosts(campaigns.runtime)
    now = START + timedelta(seconds=5)
    for _ in range(2):
        assert await counter.count({"link:a": 2, "address:x": 10}, now=now, window_s=WINDOW) is None
    assert await counter.count({"link:a": 2, "address:x": 10}, now=now, window_s=WINDOW)
    # Another link from the same address is still taken.
    assert await counter.count({"link:b": 2, "address:x": 10}, now=now, window_s=WINDOW) is None
