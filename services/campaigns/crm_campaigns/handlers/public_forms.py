"""The public forms' bounds: posts per signed link and per client address in a window, and
how many anonymous answers an event's questionnaire link takes (docs/decisions/0020)."""

from __future__ import annotations

import hashlib
import math

from crm_kit.clock import utc_now
from crm_kit.runtime import Runtime

from crm_campaigns.repository.throttle import PublicFormPosts
from crm_campaigns.settings import settings_of


async def too_frequent(runtime: Runtime, *, link: str, address: str | None) -> int | None:
    """Count a post to the public form behind ``link`` from ``address``: the seconds to wait
    (a ``Retry-After``) when the link or the address posted too often, else None. The link is
    counted by a digest: the store never holds the credential itself."""
    settings = settings_of(runtime)
    digest = hashlib.sha256(link.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    limits = {f"link:{digest}": settings.public_form_posts_per_link}
    if address:
        limits[f"address:{address[:64]}"] = settings.public_form_posts_per_address
    wait = await PublicFormPosts(runtime).count(
        limits, now=utc_now(), window_s=settings.public_form_window_s
    )
    return None if wait is None else math.ceil(wait)
