"""What a marketing message carries: the unsubscribe link (footer and, by e-mail, the
List-Unsubscribe headers), the check-in QR code of an invitation; and what a staff message
does not carry."""

from __future__ import annotations

import io
import struct
import zlib
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest
import segno
import zxingcpp
from crm_contracts.values import Channel, Language, NotificationKind, RecipientKind
from crm_notify.channels import build_email
from crm_notify.domain import Reachability
from crm_notify.links import (
    InvalidUnsubscribeLink,
    UnsubscribeClaims,
    UnsubscribeLinks,
    UnsubscribeSigner,
)
from crm_notify.marketing import QR_MASK, QR_SCALE, check_in_qr_png, check_in_qr_text
from crm_notify.messages import compose
from crm_notify.settings import NotifySettings

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
LINKS = UnsubscribeLinks("test-link-secret", "https://mail.example/")
SETTINGS = NotifySettings()


def _invitation(code: str | None = "ab12cd34") -> dict[str, Any]:
    variables = dict.fromkeys(
        ["event_title", "event_kind", "event_topic", "place", "starts_at", "ends_at"], "x"
    )
    variables.update(
        timezone="UTC", answer_url="https://crm.example/i/t", check_in_code=code, role="guest"
    )
    return {
        "_id": "ntf-1",
        "kind": NotificationKind.INVITATION.value,
        "recipient": {"kind": "person", "id": "per-1", "client_id": "cli-1"},
        "variables": variables,
        "calendar": None,
    }


PERSON = Reachability(
    kind=RecipientKind.PERSON,
    name="Anna",
    language=Language.EN,
    addresses={Channel.EMAIL: "anna@example.com", Channel.MOBILE: "+79990000001"},
    consents={Channel.EMAIL: True, Channel.MOBILE: True},
)
EMPLOYEE = Reachability(
    kind=RecipientKind.EMPLOYEE,
    name="Ivan",
    language=Language.EN,
    addresses={Channel.EMAIL: "ivan@corp.example"},
)


def _mail(message: Any) -> EmailMessage:
    parsed = message_from_bytes(build_email(SETTINGS, message).data, policy=default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_an_invitation_by_e_mail_carries_one_click_unsubscribe_and_a_visible_link() -> None:
    message = compose(
        _invitation(), PERSON, Channel.EMAIL, {}, mail_from="c@x", now=NOW, links=LINKS
    )
    mail = _mail(message)
    header = str(mail["List-Unsubscribe"]).strip()  # a long header is folded
    assert header.startswith("<https://mail.example/u/")
    assert header.endswith(">")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = header[1:-1]
    assert url in message.text
    assert f'href="{url}"' in message.html
    token = url.rsplit("/", 1)[1]
    assert LINKS.signer.verify(token) == UnsubscribeClaims("per-1", "cli-1", Channel.EMAIL, "ntf-1")


def test_an_invitation_by_e_mail_shows_the_check_in_qr_code_inline() -> None:
    message = compose(
        _invitation(), PERSON, Channel.EMAIL, {}, mail_from="c@x", now=NOW, links=LINKS
    )
    mail = _mail(message)
    related = next(p for p in mail.walk() if p.get_content_type() == "multipart/related")
    image = next(p for p in related.walk() if p.get_content_type() == "image/png")
    cid = image["Content-ID"].strip("<>")
    html = next(p for p in related.walk() if p.get_content_type() == "text/html")
    assert f'src="cid:{cid}"' in html.get_content()
    assert image.get_content() == check_in_qr_png("AB12CD34")
    # The QR code encodes exactly the check-in code, as the check-in takes it.
    assert check_in_qr_text(" ab12cd34 ") == "AB12CD34"
    expected = segno.make("AB12CD34", micro=False)
    assert expected.matrix == segno.make(check_in_qr_text("ab12cd34"), micro=False).matrix
    assert html.get_content().index("cid:") < html.get_content().index("</body>")


def test_an_sms_to_a_person_carries_the_link_but_no_headers_or_image() -> None:
    message = compose(
        _invitation(), PERSON, Channel.MOBILE, {}, mail_from="c@x", now=NOW, links=LINKS
    )
    assert message.headers == ()
    assert message.inline == ()
    assert "https://mail.example/u/" in message.text
    token = message.text.split("https://mail.example/u/")[1].split()[0]
    assert LINKS.signer.verify(token).channel is Channel.MOBILE


def test_a_staff_notice_carries_no_unsubscribe() -> None:
    doc = {
        "_id": "ntf-2",
        "kind": NotificationKind.CURATOR_ASSIGNED.value,
        "recipient": {"kind": "employee", "id": "emp-1", "client_id": None},
        "variables": {"client_name": "Acme"},
        "calendar": None,
    }
    message = compose(doc, EMPLOYEE, Channel.EMAIL, {}, mail_from="c@x", now=NOW, links=LINKS)
    mail = _mail(message)
    assert mail["List-Unsubscribe"] is None
    assert mail["List-Unsubscribe-Post"] is None
    assert "/u/" not in message.text
    assert "/u/" not in message.html


def test_the_footer_speaks_the_persons_language() -> None:
    russian = Reachability(**{**PERSON.__dict__, "language": Language.RU})
    message = compose(
        _invitation(), russian, Channel.EMAIL, {}, mail_from="c@x", now=NOW, links=LINKS
    )
    assert "отпишитесь" in message.text
    assert "Отписаться" in message.html


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not-a-token",
        UnsubscribeSigner("another-secret").sign(UnsubscribeClaims("p", "c", Channel.EMAIL)),
    ],
)
def test_a_token_notify_did_not_make_is_refused(token: str) -> None:
    with pytest.raises(InvalidUnsubscribeLink):
        LINKS.signer.verify(token)


@pytest.mark.parametrize("notification_id", ["ntf-1", None, "ntf-" + "Ж" * 40])
def test_a_token_is_the_one_the_serializer_makes(notification_id: str | None) -> None:
    from crm_notify.links import SALT
    from itsdangerous import URLSafeSerializer

    claims = UnsubscribeClaims("per-1", "cli-1", Channel.EMAIL, notification_id)
    payload = {"p": "per-1", "c": "cli-1", "ch": "email", "n": notification_id}
    expected = URLSafeSerializer("test-link-secret", salt=SALT).dumps(payload)
    assert LINKS.signer.sign(claims) == expected
    assert LINKS.signer.verify(expected) == claims


def test_a_tampered_token_is_refused() -> None:
    token = LINKS.signer.sign(UnsubscribeClaims("per-1", "cli-1", Channel.EMAIL))
    payload, _, signature = token.rpartition(".")
    flipped = payload[:-1] + ("A" if payload[-1] != "A" else "B")
    with pytest.raises(InvalidUnsubscribeLink):
        LINKS.signer.verify(f"{flipped}.{signature}")


def _png_pixels(png: bytes) -> tuple[int, list[bytes]]:
    """Width and unfiltered scanlines of a 1-bit greyscale PNG (filters None and Up)."""
    pos, width, height, data = 8, 0, 0, b""
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert (depth, colour) == (1, 0)
        elif kind == b"IDAT":
            data += body
    raw, stride = zlib.decompress(data), 1 + (width + 7) // 8
    rows, previous = [], bytes(stride - 1)
    for y in range(height):
        kind, line = raw[y * stride], raw[y * stride + 1 : (y + 1) * stride]
        assert kind in (0, 2)
        if kind == 2:
            line = bytes((a + b) & 0xFF for a, b in zip(line, previous, strict=True))
        rows.append(line)
        previous = line
    return width, rows


def test_the_check_in_qr_png_shows_the_same_pixels_as_segnos_own_writer() -> None:
    symbol = segno.make("AB12CD34", micro=False, mask=QR_MASK)
    out = io.BytesIO()
    symbol.save(out, kind="png", scale=QR_SCALE)
    width, rows = _png_pixels(check_in_qr_png("ab12cd34"))
    assert width == symbol.symbol_size(scale=QR_SCALE)[0]
    assert (width, rows) == _png_pixels(out.getvalue())


@pytest.mark.parametrize("code", ["ab12cd34", "0372555F", "12345678"])
def test_a_reader_reads_exactly_the_check_in_code_from_the_qr_png(code: str) -> None:
    # zxing-cpp makes the symbol; its reader, given only our PNG's pixels, reads the code back
    # (a code of mostly digits is mixed numeric and alphanumeric segments, the same text).
    width, rows = _png_pixels(check_in_qr_png(code))
    grey = bytes(
        255 if line[x >> 3] >> (7 - (x & 7)) & 1 else 0 for line in rows for x in range(width)
    )
    found = zxingcpp.read_barcode(memoryview(grey).cast("B", (len(rows), width)))
    assert found is not None
    assert (found.format, found.text) == (zxingcpp.BarcodeFormat.QRCode, check_in_qr_text(code))


def test_the_fixed_sentences_of_the_footer_and_the_qr_caption_need_no_escaping() -> None:
    # They go into the HTML as they are; only the link, the Content-ID and the code are escaped.
    from crm_notify.marketing import _CHANNEL_NAMES, _FOOTER, _QR_CAPTION
    from markupsafe import escape

    fixed = [*_QR_CAPTION.values(), *(s for pair in _FOOTER.values() for s in pair)]
    fixed += [name for names in _CHANNEL_NAMES.values() for name in names.values()]
    assert all(str(escape(sentence)) == sentence for sentence in fixed)
