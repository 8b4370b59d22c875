"""What a marketing message carries besides its template: the unsubscribe link (a visible
footer in the person's language, and for e-mail the ``List-Unsubscribe`` and
``List-Unsubscribe-Post`` headers of RFC 2369 and RFC 8058), and for an invitation by e-mail the
QR code of the participant's check-in code as an inline image.

A marketing message is one to a client's person (invitations, event notices, ad-hoc messages
to a person). Messages to employees are work, and a message to a bare address has no person
whose consent could be withdrawn: neither carries an unsubscribe link. The footer and the QR
code are added after the template is rendered, so a customised template cannot drop them.

Pure: no store, broker or network here.
"""

from __future__ import annotations

import functools
import re
import struct
import zlib
from dataclasses import dataclass

import zxingcpp
from crm_contracts.values import Channel, Language, RecipientKind
from markupsafe import escape

from crm_notify.templates import Rendered

QR_SCALE = 6
"""Pixels per module of the QR code's PNG (an 8-character code is 21 modules, with the quiet
zone 29: 174 px)."""
QR_BORDER = 4
"""The quiet zone around the symbol, in modules (the standard's minimum for a QR code)."""
QR_MASK = 0
"""The data mask, fixed: every mask gives a code that every reader decodes (the standard's
choice of the "best" one only evens out dark and light areas), and choosing it means building
and scoring all eight."""

_CHANNEL_NAMES = {
    Language.EN: {
        Channel.EMAIL: "e-mail",
        Channel.MOBILE: "SMS",
        Channel.PHONE: "phone",
        Channel.PAGER: "pager",
        Channel.FAX: "fax",
    },
    Language.RU: {
        Channel.EMAIL: "электронной почте",
        Channel.MOBILE: "SMS",
        Channel.PHONE: "телефону",
        Channel.PAGER: "пейджеру",
        Channel.FAX: "факсу",
    },
}
_FOOTER = {
    Language.EN: ("To stop receiving our messages by {channel}, unsubscribe", "Unsubscribe"),
    Language.RU: ("Чтобы больше не получать наши сообщения по {channel}, отпишитесь", "Отписаться"),
}
_QR_CAPTION = {
    Language.EN: "Show this code at the entrance to check in",
    Language.RU: "Покажите этот код при входе для регистрации",
}
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def is_marketing(recipient_kind: str) -> bool:
    return recipient_kind == RecipientKind.PERSON.value


def check_in_qr_text(code: str) -> str:
    """What the QR code of a check-in code encodes: the bare code, as the check-in takes it."""
    return code.strip().upper()


_PNG_DIGITS = bytes.maketrans(b"\x00\xff", b"01")
"""zxing's greyscale (0 dark, 255 light) as the digits of a 1-bit PNG's pixels (0 black)."""


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def qr_png(text: str, scale: int = QR_SCALE, border: int = QR_BORDER) -> tuple[bytes, int]:
    """The QR code of ``text`` as a 1-bit greyscale PNG, ``scale`` pixels a module, with its
    quiet zone; and its width (and height) in pixels.

    The symbol is made by zxing-cpp (C++: ~0.012 ms a code where segno, pure Python, took
    ~0.23 ms with the mask fixed; decision 0079): the lowest version the text fits, the highest
    error correction level that version allows, mask ``QR_MASK``, as segno chose them; zxing
    mixes numeric and alphanumeric segments where that is shorter, so a code of mostly digits
    can be another symbol of the same text than segno's. The PNG is written here, a row of
    modules one integer: zxing draws the symbol at ``scale // 3`` pixels a module, so a row's
    0/1 bytes read as octal digits put each module's bit every 3 bits, ``scale // 3`` times
    over, and times 7 (octal 7 = binary 111) that is the module's ``scale`` pixels; that
    scanline is repeated ``scale`` times. Pixel for pixel the image segno's own writer makes
    of the same symbol, and zxing's reader reads the code back from it (unit tests)."""
    if scale % 3:
        raise ValueError(f"scale must be a multiple of 3, not {scale}")
    per = scale // 3
    barcode = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, data_mask=QR_MASK)
    image = barcode.to_image(scale=per, add_quiet_zones=False)  # one byte a pixel
    side: int = image.shape[0]
    digits = bytes(image).translate(_PNG_DIGITS)  # type: ignore[call-overload]
    quiet = border * scale
    pixels = side * 3 + 2 * quiet
    pad = -pixels % 8
    stride = (pixels + pad) // 8
    edge = (1 << quiet) - 1
    left = edge << (side * 3 + quiet)
    # Each scanline but the first of a run of equal ones is PNG's "Up" filter (2) of zeros:
    # the same as the line above. The image is the same; zlib's fastest level compresses it in
    # a quarter of the time its default level took without the filter, ~30 bytes larger.
    same = b"\x02" + bytes(stride)
    blank = b"\x00" + (((1 << pixels) - 1) << pad).to_bytes(stride, "big") + same * (quiet - 1)
    lines = [blank] if quiet else []
    for y in range(0, side * side, side * per):
        row = (left | int(digits[y : y + side], 8) * 7 << quiet | edge) << pad
        lines += (b"\x00", row.to_bytes(stride, "big"), same * (scale - 1))
    lines += [blank] if quiet else []
    header = struct.pack(">IIBBBBB", pixels, pixels, 1, 0, 0, 0, 0)  # 1-bit greyscale
    png = b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", zlib.compress(b"".join(lines), 1)),
            _png_chunk(b"IEND", b""),
        )
    )
    return png, pixels


@dataclass(frozen=True)
class QrImage:
    png: bytes
    size: int
    """Width and height in pixels."""


@functools.lru_cache(maxsize=64)
def check_in_qr(code: str) -> QrImage:
    """The check-in code's QR code as a PNG. Kept for the next few calls: composing a message
    asks for it twice (the image's size in the HTML, then the image)."""
    return QrImage(*qr_png(check_in_qr_text(code)))


def check_in_qr_png(code: str) -> bytes:
    return check_in_qr(code).png


@dataclass(frozen=True)
class Extras:
    """What to add to a rendered message: the unsubscribe link, the QR code's Content-ID."""

    language: Language
    channel: Channel
    unsubscribe_url: str | None = None
    qr_content_id: str | None = None
    check_in_code: str | None = None


def _before_body_end(html: str, block: str) -> str:
    """``html`` with ``block`` (already escaped) before its last ``</body>``, else at its end."""
    # Looked for in the page's last characters first, where it is: any end tag there comes
    # after every one before them.
    ends = list(_BODY_END.finditer(html, max(0, len(html) - 64))) or list(_BODY_END.finditer(html))
    if not ends:
        return html + block
    at = ends[-1].start()
    return html[:at] + block + html[at:]


def with_extras(rendered: Rendered, extras: Extras) -> Rendered:
    """The message with its QR code and unsubscribe footer: both blocks put before the HTML's
    last ``</body>`` (the QR code first), every value in them escaped (the fixed sentences
    above have nothing HTML would take for markup)."""
    text, html = rendered.text, rendered.html
    blocks = []
    if extras.qr_content_id and extras.check_in_code:
        size = check_in_qr(extras.check_in_code).size
        blocks.append(
            f'<p><img src="cid:{escape(extras.qr_content_id)}" width="{size}" height="{size}"'
            f' alt="{escape(f"QR {extras.check_in_code}")}">'
            f"<br>{_QR_CAPTION[extras.language]}</p>\n"
        )
    if extras.unsubscribe_url:
        sentence, action = _FOOTER[extras.language]
        sentence = sentence.format(channel=_CHANNEL_NAMES[extras.language][extras.channel])
        text = f"{text.rstrip()}\n\n--\n{sentence}: {extras.unsubscribe_url}\n"
        blocks.append(
            f'<hr><p style="font-size:small;color:#555">{sentence}: '
            f'<a href="{escape(extras.unsubscribe_url)}">{action}</a></p>\n'
        )
    if blocks:
        html = _before_body_end(html, "".join(blocks))
    return Rendered(subject=rendered.subject, text=text, html=html)
