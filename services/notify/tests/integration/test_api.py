"""The HTTP API: templates, ad-hoc sends with an Idempotency-Key, the log, channels, scopes."""

from __future__ import annotations

from typing import Any

from crm_kit.testing import bearer, eventually

from .conftest import Harness, unique


async def test_a_template_with_a_variable_its_kind_lacks_is_refused_at_save(
    notify: Harness,
) -> None:
    h = notify
    refused = await h.client.put(
        "/templates/task_assigned/ru",
        json={
            "subject": "Задача: {{ task_title }}",
            "text": "{{ recipient_name }}, ваш бонус: {{ bonus_amount }}",
        },
        headers=bearer(h.keys, "notify:admin"),
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["detail"] == (
        "the text template refers to 'bonus_amount', which a task_assigned notification "
        "does not provide"
    )
    assert [e["field"] for e in problem["errors"]] == ["body.text"]
    current = await h.client.get(
        "/templates/task_assigned/ru", headers=bearer(h.keys, "notify:read")
    )
    assert current.json()["customised"] is False
    assert current.json()["subject"] == "Новая задача: {{ task_title }}"


async def test_editing_templates_needs_the_admin_scope(notify: Harness) -> None:
    h = notify
    response = await h.client.put(
        "/templates/ad_hoc/en",
        json={"subject": "{{ subject }}", "text": "{{ body }}"},
        headers=bearer(h.keys, "notify:read", "notify:send"),
    )
    assert response.status_code == 403
    assert "notify:admin" in response.json()["detail"]


async def test_an_ad_hoc_send_with_the_same_idempotency_key_is_one_notification(
    notify: Harness,
) -> None:
    h = notify
    address = f"{unique('adhoc')}@example.com"
    request = {
        "recipient": {"kind": "address", "id": address},
        "channel": "email",
        "subject": "Stock update",
        "body": "The lathes are back in stock.",
        "language": "en",
    }
    key = {"Idempotency-Key": unique("key")}
    first = await h.client.post(
        "/notifications", json=request, headers={**bearer(h.keys, "notify:send"), **key}
    )
    again = await h.client.post(
        "/notifications", json=request, headers={**bearer(h.keys, "notify:send"), **key}
    )
    other = await h.client.post(
        "/notifications",
        json={**request, "body": "Something else"},
        headers={**bearer(h.keys, "notify:send"), **key},
    )

    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 409)
    assert again.json()["id"] == first.json()["id"]
    assert first.headers["Location"] == f"/notifications/{first.json()['id']}"

    async def delivered() -> Any:
        response = await h.client.get(
            first.headers["Location"], headers=bearer(h.keys, "notify:read")
        )
        return response.json() if response.json()["status"] == "delivered" else None

    notification = await eventually(delivered, within=60, what="the ad-hoc message delivered")
    assert notification["kind"] == "ad_hoc"
    assert notification["source_event_type"] == "AdHocSend"
    [mail] = h.smtp.messages_to(address)
    assert mail["Subject"] == "Stock update"


async def test_an_ad_hoc_send_needs_the_send_scope(notify: Harness) -> None:
    h = notify
    response = await h.client.post(
        "/notifications",
        json={
            "recipient": {"kind": "address", "id": "x@example.com"},
            "channel": "email",
            "subject": "s",
            "body": "b",
        },
        headers=bearer(h.keys, "notify:read"),
    )
    assert response.status_code == 403


async def test_an_ad_hoc_send_to_a_bare_address_must_name_its_channel(notify: Harness) -> None:
    h = notify
    response = await h.client.post(
        "/notifications",
        json={"recipient": {"kind": "address", "id": "x@example.com"}, "subject": "s", "body": "b"},
        headers=bearer(h.keys, "notify:send"),
    )
    assert response.status_code == 422
    assert "needs the channel" in response.json()["detail"]


async def test_the_log_is_filtered_by_recipient_and_paged_with_a_cursor(notify: Harness) -> None:
    h = notify
    address = f"{unique('paged')}@example.com"
    sent = []
    for n in range(3):
        response = await h.client.post(
            "/notifications",
            json={
                "recipient": {"kind": "address", "id": address},
                "channel": "email",
                "subject": f"Note {n}",
                "body": "x",
            },
            headers=bearer(h.keys, "notify:send"),
        )
        assert response.status_code == 201
        sent.append(response.json()["id"])

    reader = bearer(h.keys, "notify:read")
    page1 = await h.client.get(
        "/notifications", params={"recipient": address, "limit": 2}, headers=reader
    )
    body1 = page1.json()
    page2 = await h.client.get(
        "/notifications",
        params={"recipient": address, "limit": 2, "cursor": body1["next_cursor"]},
        headers=reader,
    )
    body2 = page2.json()

    assert [n["id"] for n in body1["items"] + body2["items"]] == list(reversed(sent))
    assert body2["next_cursor"] is None
    adhoc_only = await h.client.get(
        "/notifications", params={"recipient": address, "kind": "invitation"}, headers=reader
    )
    assert adhoc_only.json() == {"items": [], "next_cursor": None}


async def test_a_cursor_that_is_not_one_of_ours_is_a_clear_400(notify: Harness) -> None:
    reader = bearer(notify.keys, "notify:read")
    for cursor in ("¡d", "%%%", "gA", "MjAyNi0xMi0wNg.forged"):  # not ASCII, base64, signed
        response = await notify.client.get(
            "/notifications", params={"cursor": cursor}, headers=reader
        )
        assert response.status_code == 400, (cursor, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in response.json()["errors"]] == ["query.cursor"]


async def test_the_channels_show_their_transport_and_fallback_order(notify: Harness) -> None:
    h = notify
    response = await h.client.get("/channels", headers=bearer(h.keys, "notify:read"))
    assert response.status_code == 200
    assert {c["channel"]: (c["transport"], c["position"]) for c in response.json()} == {
        "email": ("smtp", 0),
        "mobile": ("http-gateway", 1),
        "pager": ("http-gateway", 2),
        "fax": ("email-to-fax", 3),
        "phone": ("none", None),
    }


async def test_the_address_a_message_went_to_is_shown_only_to_roles_that_see_personal_data(
    notify: Harness,
) -> None:
    h = notify
    address = f"{unique('private')}@example.com"
    sent = await h.client.post(
        "/notifications",
        json={
            "recipient": {"kind": "address", "id": address},
            "channel": "email",
            "subject": "Your order",
            "body": "It ships on Monday.",
            "language": "en",
        },
        headers=bearer(h.keys, "notify:send"),
    )
    assert sent.status_code == 201, sent.text
    location = sent.headers["Location"]

    async def delivered() -> Any:
        response = await h.client.get(location, headers=bearer(h.keys, "notify:read"))
        return response.json() if response.json()["status"] == "delivered" else None

    seen = await eventually(delivered, within=60, what="the message delivered")
    assert (seen["address"], seen["recipient"]["id"], seen["hidden"]) == (address, address, [])

    operator = bearer(h.keys, "notify:read", roles=("operator",))
    withheld = (await h.client.get(location, headers=operator)).json()
    assert withheld["status"] == "delivered"
    assert (withheld["address"], withheld["recipient"]["id"]) == (None, "hidden")
    assert withheld["hidden"] == ["address", "recipient.id"]
    by_address = await h.client.get(
        "/notifications", params={"recipient": address}, headers=operator
    )
    assert by_address.status_code == 200
    assert by_address.json()["items"] == []
    seller = bearer(h.keys, "notify:read", roles=("sales",))
    found = await h.client.get("/notifications", params={"recipient": address}, headers=seller)
    assert [n["id"] for n in found.json()["items"]] == [seen["id"]]
