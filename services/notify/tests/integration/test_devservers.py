"""The local mail catcher and gateway sink keep what they receive where a person can read it."""

from __future__ import annotations

import json
import mailbox
from email.message import EmailMessage
from pathlib import Path

import httpx
from crm_notify.devservers import GatewaySink, mail_catcher
from crm_notify.smtp import SmtpServer, connect

from .conftest import free_port


async def test_the_mail_catcher_stores_each_message_in_the_maildir(tmp_path: Path) -> None:
    port = free_port()
    catcher = mail_catcher("127.0.0.1", port, tmp_path / "mail")
    catcher.start()
    try:
        mail = EmailMessage()
        mail["From"] = "crm@localhost"
        mail["To"] = "anna@example.com"
        mail["Subject"] = "Invitation"
        mail.set_content("Hello")
        connection = await connect(SmtpServer("127.0.0.1", port, "client.test"))
        await connection.send("crm@localhost", ["anna@example.com"], mail.as_bytes())
        await connection.quit()
    finally:
        catcher.stop()
    stored = list(mailbox.Maildir(tmp_path / "mail"))
    assert [(m["To"], m["Subject"]) for m in stored] == [("anna@example.com", "Invitation")]


async def test_the_gateway_sink_records_each_post_as_a_json_line(tmp_path: Path) -> None:
    log = tmp_path / "gateway.jsonl"
    sink = GatewaySink(log_file=log)
    await sink.start()
    try:
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{sink.url}/sms", json={"to": "+79990000001", "text": "Hi"}
            )
    finally:
        await sink.stop()
    assert response.status_code == 202
    [line] = log.read_text().splitlines()
    record = json.loads(line)
    assert (record["path"], record["body"]) == ("/sms", {"to": "+79990000001", "text": "Hi"})
