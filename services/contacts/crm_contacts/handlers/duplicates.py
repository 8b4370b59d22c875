"""Likely duplicate clients, and merging one into another."""

from __future__ import annotations

from dataclasses import dataclass

from crm_contacts import commands, domain, events
from crm_contacts.domain import facts, matching
from crm_contacts.domain.errors import CannotMergeIntoItself, InvalidInputError, UnknownReference
from crm_contacts.handlers.common import load_client, merged_problem
from crm_contacts.repository import (
    ClientRepository,
    Dismissal,
    DismissalRepository,
    Page,
    RecordRepository,
    TimelineRepository,
)
from crm_contacts.repository.dismissals import pair_id
from crm_contacts.repository.pagination import decode_cursor, encode_cursor
from crm_kit.clock import utc_now
from crm_kit.runtime import Runtime


@dataclass(frozen=True)
class DuplicatePair:
    first: tuple[str, str]
    """(id, name) of the earlier-registered client."""
    second: tuple[str, str]
    reasons: tuple[str, ...]


async def likely_duplicates(
    runtime: Runtime, *, cursor: str | None, limit: int
) -> Page[DuplicatePair]:
    """Pairs of live clients sharing a tax id, e-mail, phone or normalised name.

    Ordered by the pair's two ids. The keys marked shared come with their holders from one
    indexed read (``ClientRepository.sharing_keys``); the work grows with the duplicates, not
    with the clients. A pair dismissed as "not a duplicate" stays out unless it came to share
    something new since.
    """
    pairs: dict[tuple[str, str], DuplicatePair] = {}
    for holders in await ClientRepository(runtime).sharing_keys():
        for i, a in enumerate(holders):
            for b in holders[i + 1 :]:
                first, second = sorted((a, b), key=lambda d: str(d["_id"]))
                ids = (str(first["_id"]), str(second["_id"]))
                if ids in pairs:
                    continue
                why = matching.reasons(
                    [str(k) for k in first["match_keys"]],
                    [str(k) for k in second["match_keys"]],
                )
                pairs[ids] = DuplicatePair(
                    (ids[0], str(first["name"])), (ids[1], str(second["name"])), why
                )
    dismissed = await DismissalRepository(runtime).of_pairs([pair_id(*ids) for ids in pairs])
    for ids, pair in list(pairs.items()):
        dismissal = dismissed.get(pair_id(*ids))
        if dismissal is not None and set(pair.reasons) <= set(dismissal.reasons):
            del pairs[ids]
    ordered = sorted(pairs.items())
    if cursor is not None:
        first_id, second_id = decode_cursor(cursor)
        ordered = [p for p in ordered if p[0] > (str(first_id), second_id)]
    page = ordered[:limit]
    next_cursor = (
        encode_cursor(page[-1][0][0], page[-1][0][1]) if len(ordered) > limit and page else None
    )
    return Page([p for _, p in page], next_cursor)


@dataclass(frozen=True)
class MergeResult:
    survivor: domain.Client
    merged_id: str
    moved_person_ids: tuple[str, ...]
    moved_contact_ids: tuple[str, ...]


async def merge_clients(
    runtime: Runtime, command: commands.MergeClients, *, by: str | None
) -> MergeResult:
    """Move the merged client's people and contact records to the survivor.

    Each step is its own write, ordered so that the whole is safely repeatable: records and
    timeline first (re-pointing is idempotent), then the survivor takes the people (ones it
    already has are skipped), and last the merged client is marked with its ``ClientsMerged``
    fact. A merge interrupted half-way is finished by asking again.
    """
    if command.survivor_id == command.merged_id:
        raise CannotMergeIntoItself(
            "a client cannot be merged into itself", field="body.merged_client_id"
        )
    clients = ClientRepository(runtime)
    records = RecordRepository(runtime)
    survivor = await load_client(clients, command.survivor_id)
    merged = await load_client(clients, command.merged_id)
    now = utc_now()
    contact_ids = await records.ids_of_client(merged.client_id)
    await records.move(contact_ids, to_client=survivor.client_id, from_client=merged.client_id)
    await TimelineRepository(runtime).repoint(
        from_client=merged.client_id, to_client=survivor.client_id
    )
    known = {p.person_id for p in survivor.people}
    moving = tuple(p.person_id for p in merged.people)
    absorbed = survivor.absorb(merged, now=now)
    happened: list[domain.Fact] = [facts.PersonAdded(pid) for pid in moving if pid not in known]
    changed = tuple(
        name
        for name in ("tags", "addresses", "tax_id")
        if getattr(absorbed, name) != getattr(survivor, name)
    )
    if changed:
        happened.insert(0, facts.ClientUpdated(changed, by))
    saved = await clients.save(
        absorbed,
        events.client_events(absorbed, happened, now=now),
        expected_version=survivor.version,
    )
    gone = merged.merged_into_survivor(survivor.client_id, now=now)
    await clients.save(
        gone,
        [
            events.clients_merged(
                survivor.client_id, merged.client_id, moving, contact_ids, now=now, by=by
            )
        ],
        expected_version=merged.version,
    )
    return MergeResult(saved, merged.client_id, moving, contact_ids)


async def dismiss_pair(
    runtime: Runtime, client_ids: tuple[str, str], *, note: str | None, by: str | None
) -> tuple[Dismissal, bool]:
    """Record that two clients are not the same; ``False`` if the pair was dismissed before."""
    first_id, second_id = client_ids
    if first_id == second_id:
        raise InvalidInputError("a client cannot be a duplicate of itself", field="body.client_ids")
    clients = ClientRepository(runtime)
    found: list[domain.Client] = []
    for at, client_id in enumerate(client_ids):
        client = await clients.get(client_id)
        if client is None:
            raise UnknownReference(
                f"there is no client {client_id}", field=f"body.client_ids[{at}]"
            )
        if client.merged_into is not None:
            raise merged_problem(client_id, client.merged_into)
        found.append(client)
    a, b = sorted(found, key=lambda c: c.client_id)
    return await DismissalRepository(runtime).add(
        Dismissal(
            client_ids=(a.client_id, b.client_id),
            reasons=matching.reasons(a.match_keys(), b.match_keys()),
            note=note,
            dismissed_at=utc_now(),
            dismissed_by=by,
        )
    )


async def dismissals(runtime: Runtime, *, cursor: str | None, limit: int) -> Page[Dismissal]:
    return await DismissalRepository(runtime).list(cursor=cursor, limit=limit)
