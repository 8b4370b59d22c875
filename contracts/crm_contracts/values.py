"""Closed value sets and scalar types shared by every contract, defined once here.

A closed set is a ``StrEnum``: on the wire it is its string value. Adding a member is an
additive change (readers that must tolerate it are upgraded first); removing or renaming a
member is a breaking change that the compatibility check refuses.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field


def _as_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_as_utc)]
"""A timezone-aware instant, normalised to UTC; a naive datetime is refused."""

Id = Annotated[str, Field(min_length=1)]
"""An aggregate id: a UUID or a MongoDB ObjectId in hex, always carried as a string."""

CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
"""An ISO 4217 alphabetic currency code, e.g. ``EUR``."""


class ClientKind(StrEnum):
    ORGANISATION = "organisation"
    PERSON = "person"


class ClientStatus(StrEnum):
    POTENTIAL = "potential"
    ACTIVE = "active"
    PARTNER = "partner"
    DEALER = "dealer"
    FORMER = "former"


class ClientSize(StrEnum):
    MICRO = "micro"
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


class ClientSourceKind(StrEnum):
    MANUAL = "manual"
    EVENT = "event"
    PROGRAMME = "programme"
    QUESTIONNAIRE = "questionnaire"
    IMPORT = "import"


class Channel(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    MOBILE = "mobile"
    FAX = "fax"
    PAGER = "pager"


class Language(StrEnum):
    RU = "ru"
    EN = "en"


class Department(StrEnum):
    MARKETING = "marketing"
    SALES = "sales"
    SERVICE = "service"
    FINANCE = "finance"
    LOGISTICS = "logistics"
    MANAGEMENT = "management"


class ContactKind(StrEnum):
    MEETING = "meeting"
    CALL = "call"
    EMAIL = "email"
    LETTER = "letter"
    EVENT_TALK = "event_talk"
    SERVICE_VISIT = "service_visit"
    OTHER = "other"


class ContactDirection(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class TaskCategory(StrEnum):
    VENUE = "venue"
    PRESS_ADVERTISING = "press_advertising"
    COST_ESTIMATE = "cost_estimate"
    EQUIPMENT = "equipment"
    SPECIALISTS = "specialists"
    PROGRAMME = "programme"
    OTHER = "other"


class ParticipantRole(StrEnum):
    GUEST = "guest"
    SPEAKER = "speaker"
    STAFF = "staff"
    PARTNER = "partner"
    DEALER = "dealer"


class ParticipantStatus(StrEnum):
    """The participant's path: planned → invited → delivered | failed → accepted | declined →
    attended | no_show; ``waitlisted`` when the event is at capacity."""

    PLANNED = "planned"
    WAITLISTED = "waitlisted"
    INVITED = "invited"
    DELIVERED = "delivered"
    FAILED = "failed"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    ATTENDED = "attended"
    NO_SHOW = "no_show"


class SelectionMode(StrEnum):
    MANUAL = "manual"
    PORTRAIT = "portrait"


class InvitationAnswer(StrEnum):
    ACCEPTED = "accepted"
    DECLINED = "declined"


class AttendanceMethod(StrEnum):
    CHECK_IN = "check_in"
    INVITATION_CODE = "invitation_code"
    QUESTIONNAIRE = "questionnaire"
    CONTACT_RECORD = "contact_record"
    MANUAL = "manual"
    EVENT_COMPLETED = "event_completed"
    """Not seen by the time the event was completed: a no-show (``attended`` false)."""


class ResponseChannel(StrEnum):
    ELECTRONIC = "electronic"
    PAPER = "paper"


class QuestionKind(StrEnum):
    SINGLE_CHOICE = "single_choice"
    MULTIPLE_CHOICE = "multiple_choice"
    SCALE = "scale"
    FREE_TEXT = "free_text"
    PRODUCT_INTEREST = "product_interest"
    CONTACT_DETAILS = "contact_details"


class NeedsSource(StrEnum):
    QUESTIONNAIRE = "questionnaire"
    CONTACT_RECORD = "contact_record"


class CatalogItemKind(StrEnum):
    GOODS = "goods"
    SERVICE = "service"


class ProposalStatus(StrEnum):
    DRAFT = "draft"
    PRESENTED = "presented"
    NEGOTIATION = "negotiation"
    WON = "won"
    LOST = "lost"
    WITHDRAWN = "withdrawn"


class ProposalSide(StrEnum):
    CLIENT = "client"
    COMPANY = "company"
    PARTNER = "partner"


class DiscountKind(StrEnum):
    PERCENT = "percent"
    AMOUNT = "amount"


class StepOutcome(StrEnum):
    DONE = "done"
    SKIPPED = "skipped"


class PlanOrigin(StrEnum):
    MANUAL = "manual"
    SALES_MODEL = "sales_model"


class SalesModelOrigin(StrEnum):
    ANALYST = "analyst"
    MINED = "mined"


class RecipientKind(StrEnum):
    PERSON = "person"
    EMPLOYEE = "employee"
    ADDRESS = "address"


class NotificationKind(StrEnum):
    INVITATION = "invitation"
    STAFF_NOTICE = "staff_notice"
    TASK_ASSIGNED = "task_assigned"
    TASK_CANCELLED = "task_cancelled"
    PLAN_STEP_ASSIGNED = "plan_step_assigned"
    CURATOR_ASSIGNED = "curator_assigned"
    EVENT_RESCHEDULED = "event_rescheduled"
    EVENT_CANCELLED = "event_cancelled"
    AD_HOC = "ad_hoc"


class FailureKind(StrEnum):
    NO_USABLE_CHANNEL = "no_usable_channel"
    PERMANENT = "permanent"
    RETRIES_EXHAUSTED = "retries_exhausted"
    TEMPLATE_ERROR = "template_error"


class UnsubscribeMethod(StrEnum):
    ONE_CLICK = "one_click"
    """An RFC 8058 ``List-Unsubscribe-Post`` from the mail client or provider."""
    PAGE = "page"
    """The button of the confirmation page the link opens."""
