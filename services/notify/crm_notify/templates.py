"""Message templates: Jinja2 in a sandbox, per notification kind and language.

Every kind ships a Russian and an English template (subject, plain text, optional HTML). An
operator may replace one through ``/templates``; a replacement may use only the variables its
kind provides, checked when it is saved, and rendering is strict, so nothing is ever sent with
a blank where a value should be.

Rendering is bounded, whatever a template does: Jinja's sandbox (no attribute escape, ranges
of at most 100,000), plus a budget per rendering of ``MAX_STEPS`` loop iterations and calls
(nested loops, recursive macros), ``MAX_RENDER_S`` of time, and ``MAX_OUTPUT`` characters of
output or of any one value made on the way (``"x" * 10**9``, ``"x"|center(10**9)``, a huge
``replace`` or ``join``, a format padding to a huge width). A template is tried against
sample values when it is saved, so one that goes past a bound is refused then; one that
still fails at send time (a template stored before these checks, or values that make it fail)
raises ``RenderFailed``, which the delivery worker records as a permanent failure of that
notification, never retried.
"""

from __future__ import annotations

import contextvars
import functools
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import jinja2
from crm_contracts.values import Language, NotificationKind
from jinja2 import StrictUndefined, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from crm_notify.domain import (
    KIND_VARIABLES,
    InvalidTemplate,
    TemplateTooCostly,
    UnknownTemplateVariable,
)

K = NotificationKind

MAX_STEPS: Final = 50_000
"""Loop iterations and calls one rendering may make (every part of a message together)."""
MAX_RENDER_S: Final = 1.0
"""Time one rendering may take."""
MAX_OUTPUT: Final = 200_000
"""Characters of any part's output, and of any one string or list made while rendering."""
_COUNTED = "_counted_iteration"
_NUMBER = re.compile(r"\d+")


class RenderLimitExceeded(SecurityError):
    """A rendering went past one of the bounds above."""


class RenderFailed(jinja2.TemplateRuntimeError):
    """A template could not be rendered (past a bound, or an error in it): permanent."""


@dataclass
class _Budget:
    deadline: float
    steps_left: int = MAX_STEPS

    def spend(self, steps: int = 1) -> None:
        self.steps_left -= steps
        if self.steps_left < 0:
            raise RenderLimitExceeded(f"more than {MAX_STEPS} loop iterations and calls")
        if time.monotonic() > self.deadline:
            raise RenderLimitExceeded(f"rendering took longer than {MAX_RENDER_S} s")


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "notify_render_budget", default=None
)


def _spend(steps: int = 1) -> None:
    budget = _budget.get()
    if budget is None:
        raise RenderLimitExceeded("a template is rendered only through render()")
    budget.spend(steps)


def _sized(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple | dict) else 0


def _check_size(value: Any) -> Any:
    if _sized(value) > MAX_OUTPUT:
        raise RenderLimitExceeded(f"a value of more than {MAX_OUTPUT} characters or items")
    return value


def _check_arguments(name: str, value: Any, args: Iterable[Any]) -> None:
    """Refuse, before it runs, a call that would make something too big: a width or count
    past the bound, a ``replace`` or ``join`` whose result would be."""
    args = list(args)
    if name in ("format", "format_map") and isinstance(value, str):
        _check_format(value)
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_OUTPUT:
            raise RenderLimitExceeded(f"{name}: an argument of {arg} is past the bounds")
    if name == "replace" and len(args) >= 2 and isinstance(value, str):
        old, new = str(args[0]), str(args[1])
        hits = len(value) + 1 if old == "" else value.count(old)
        if len(value) + hits * len(new) > MAX_OUTPUT:
            raise RenderLimitExceeded("replace: the result would be past the bounds")
    if name != "join" or not args:
        return
    if isinstance(value, str) and hasattr(args[0], "__len__"):
        made = len(value) * len(args[0])  # str.join: the separator is the bound method's
    elif isinstance(value, list | tuple):
        made = len(str(args[0])) * len(value)  # the join filter: the separator is an argument
    else:
        made = 0
    if made > MAX_OUTPUT:
        raise RenderLimitExceeded("join: the result would be past the bounds")


def _check_format(fmt: str) -> None:
    """A format string may pad to a width or precision that allocates before anything can
    stop it (``"{:>1000000000}"``, ``"%1000000000s"``): refuse a number past the bound."""
    if any(int(n) > MAX_OUTPUT for n in _NUMBER.findall(fmt)):
        raise RenderLimitExceeded("a format with a width past the bounds")


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)  # keeps Jinja's pass_context/pass_environment marker
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _spend()
        # The filtered value follows the context/environment Jinja may pass first.
        given = [a for a in args if not isinstance(a, Context | EvalContext | jinja2.Environment)]
        value = given[0] if given else None
        _check_arguments(name, value, [*given[1:], *kwargs.values()])
        return _check_size(func(*args, **kwargs))

    return bounded


def _counted_iteration(iterable: Any) -> Iterator[Any]:
    for item in iterable:
        _spend()
        yield item


class BoundedEnvironment(SandboxedEnvironment):
    """The sandbox with a budget: every loop iteration and call spends a step and checks the
    time; ``*``, ``**`` and ``+`` are checked for the size of what they would make."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {k: _bounded_filter(k, f) for k, f in self.filters.items()}
        self.filters[_COUNTED] = _counted_iteration

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _spend()
        tiny_base = isinstance(left, int | float) and abs(left) <= 1
        if (
            operator == "**"
            and isinstance(right, int | float)
            and abs(right) > 64
            and not tiny_base
        ):
            raise RenderLimitExceeded(f"an exponent of {right} is past the bounds")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if _sized(seq) and isinstance(times, int) and _sized(seq) * times > MAX_OUTPUT:
                    raise RenderLimitExceeded("a repetition past the bounds")
        if operator == "%" and isinstance(left, str):
            _check_format(left)
        if operator == "+" and _sized(left) + _sized(right) > MAX_OUTPUT:
            raise RenderLimitExceeded("a concatenation past the bounds")
        return _check_size(super().call_binop(context, operator, left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _spend()
        name = getattr(__obj, "__name__", "")
        # A bound method's object; the sandbox hands str.format over wrapped.
        value = getattr(getattr(__obj, "__wrapped__", __obj), "__self__", None)
        shown = [v for k, v in kwargs.items() if not k.startswith("_")]
        _check_arguments(name, value, [*args, *shown])
        return _check_size(super().call(__context, __obj, *args, **kwargs))

    def _generate(
        self,
        source: nodes.Template,
        name: str | None,
        filename: str | None,
        defer_init: bool = False,
    ) -> str:
        # Every loop iterates through the budget: a step per item, whatever it loops over.
        for loop in source.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, _COUNTED, [], [], None, None, lineno=loop.lineno)
        return super()._generate(source, name, filename, defer_init)


_text_env = BoundedEnvironment(
    undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
)
_html_env = BoundedEnvironment(undefined=StrictUndefined, autoescape=True)
# Globals every template may use without the kind declaring them (Jinja's own tests, filters).
_ALWAYS = frozenset({"range", "dict", "lipsum", "cycler", "joiner", "namespace"})
_SAMPLE = "Sample value " * 4
"""What each variable holds in the trial rendering at save time (a longish text)."""


@dataclass(frozen=True)
class Template:
    subject: str
    text: str
    html: str | None = None

    def parts(self) -> dict[str, str]:
        found = {"subject": self.subject, "text": self.text}
        if self.html is not None:
            found["html"] = self.html
        return found


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def validate(kind: NotificationKind, template: Template) -> None:
    """Refuse a template that does not parse, refers to a variable ``kind`` lacks, or goes
    past the render bounds with sample values."""
    allowed = KIND_VARIABLES[kind] | _ALWAYS
    for part, source in template.parts().items():
        env = _html_env if part == "html" else _text_env
        try:
            ast = env.parse(source)
        except jinja2.TemplateSyntaxError as exc:
            raise InvalidTemplate(part, f"line {exc.lineno}: {exc.message}") from exc
        unknown = sorted(meta.find_undeclared_variables(ast) - allowed)
        if unknown:
            raise UnknownTemplateVariable(unknown[0], kind, part)
        sample = dict.fromkeys(KIND_VARIABLES[kind], _SAMPLE)
        try:
            _render_part(source, part == "html", sample)
        except RenderFailed as exc:
            if isinstance(exc.__cause__, RenderLimitExceeded):
                raise TemplateTooCostly(part, str(exc.__cause__)) from exc
            # Any other failure may come from the sample values (a number expected where
            # the sample has text): only the bounds are judged here.


@functools.lru_cache(maxsize=256)
def _compiled(source: str, html: bool) -> jinja2.Template:
    template = (_html_env if html else _text_env).from_string(source)
    # Its globals as a plain dict, not Jinja's ChainMap of the template's and the environment's
    # (neither changes once made): every rendering copies them into its context, and going
    # through a ChainMap was half the cost of making that context.
    template.globals = dict(template.globals)
    return template


def _render_part(source: str, html: bool, variables: Mapping[str, Any]) -> str:
    """One part, within the budget of the rendering under way (or a fresh one)."""
    fresh = _budget.get() is None
    token = _budget.set(_Budget(time.monotonic() + MAX_RENDER_S)) if fresh else None
    try:
        out: list[str] = []
        size = 0
        for chunk in _compiled(source, html).generate(dict(variables)):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise RenderLimitExceeded(f"an output of more than {MAX_OUTPUT} characters")
            out.append(chunk)
        return "".join(out)
    except RenderFailed:
        raise
    except Exception as exc:
        # Anything a template can raise (a bound, a type error, an overflow, a recursion)
        # is a failure of this rendering, not of the process or the worker.
        raise RenderFailed(f"{type(exc).__name__}: {exc}") from exc
    finally:
        if token is not None:
            _budget.reset(token)


def render(template: Template, variables: dict[str, Any]) -> Rendered:
    """The message, every part within one budget; ``RenderFailed`` when it cannot be."""
    token = _budget.set(_Budget(time.monotonic() + MAX_RENDER_S))
    try:
        subject = " ".join(_render_part(template.subject, False, variables).split())
        text = _render_part(template.text, False, variables)
        if template.html is not None:
            html = _render_part(template.html, True, variables)
        else:
            html = _html_from_text(text)
    finally:
        _budget.reset(token)
    return Rendered(subject=subject, text=text, html=html)


def _html_from_text(text: str) -> str:
    paragraphs = [p for p in text.strip().split("\n\n") if p.strip()]
    body = Markup("").join(
        Markup("<p>{}</p>\n").format(Markup("<br>\n").join(escape(line) for line in p.split("\n")))
        for p in paragraphs
    )
    return f'<!doctype html>\n<html><body style="font-family:sans-serif">\n{body}</body></html>\n'


_INVITATION_HTML = {
    Language.EN: """<!doctype html>
<html><body style="font-family:sans-serif">
<p>Dear {{ recipient_name }},</p>
<p>We are pleased to invite you to <strong>{{ event_title }}</strong> ({{ event_kind }}).</p>
{% if event_topic %}<p>Topic: {{ event_topic }}</p>{% endif %}
<p>When: {{ starts_at }} – {{ ends_at }} ({{ timezone }})<br>Where: {{ place }}</p>
<p><a href="{{ answer_url }}">Accept or decline the invitation</a></p>
{% if check_in_code %}<p>Your check-in code: <code>{{ check_in_code }}</code></p>{% endif %}
<p>The event is attached as a calendar entry.</p>
</body></html>
""",
    Language.RU: """<!doctype html>
<html><body style="font-family:sans-serif">
<p>Уважаемый(ая) {{ recipient_name }}!</p>
<p>Приглашаем вас на мероприятие <strong>«{{ event_title }}»</strong> ({{ event_kind }}).</p>
{% if event_topic %}<p>Тема: {{ event_topic }}</p>{% endif %}
<p>Когда: {{ starts_at }} – {{ ends_at }} ({{ timezone }})<br>Где: {{ place }}</p>
<p><a href="{{ answer_url }}">Принять или отклонить приглашение</a></p>
{% if check_in_code %}<p>Ваш код регистрации: <code>{{ check_in_code }}</code></p>{% endif %}
<p>Мероприятие приложено как событие календаря.</p>
</body></html>
""",
}

SHIPPED: dict[tuple[NotificationKind, Language], Template] = {
    (K.INVITATION, Language.EN): Template(
        subject="Invitation: {{ event_title }}",
        text="Dear {{ recipient_name }},\n\n"
        "We are pleased to invite you to {{ event_title }} ({{ event_kind }}).\n"
        "{% if event_topic %}Topic: {{ event_topic }}\n{% endif %}\n"
        "When: {{ starts_at }} – {{ ends_at }} ({{ timezone }})\nWhere: {{ place }}\n\n"
        "Accept or decline: {{ answer_url }}\n"
        "{% if check_in_code %}Your check-in code: {{ check_in_code }}\n{% endif %}",
        html=_INVITATION_HTML[Language.EN],
    ),
    (K.INVITATION, Language.RU): Template(
        subject="Приглашение: {{ event_title }}",
        text="Уважаемый(ая) {{ recipient_name }}!\n\n"
        "Приглашаем вас на мероприятие «{{ event_title }}» ({{ event_kind }}).\n"
        "{% if event_topic %}Тема: {{ event_topic }}\n{% endif %}\n"
        "Когда: {{ starts_at }} – {{ ends_at }} ({{ timezone }})\nГде: {{ place }}\n\n"
        "Принять или отклонить приглашение: {{ answer_url }}\n"
        "{% if check_in_code %}Ваш код регистрации: {{ check_in_code }}\n{% endif %}",
        html=_INVITATION_HTML[Language.RU],
    ),
    (K.STAFF_NOTICE, Language.EN): Template(
        subject="{{ subject }}", text="{{ recipient_name }},\n\n{{ body }}\n"
    ),
    (K.STAFF_NOTICE, Language.RU): Template(
        subject="{{ subject }}", text="{{ recipient_name }},\n\n{{ body }}\n"
    ),
    (K.AD_HOC, Language.EN): Template(subject="{{ subject }}", text="{{ body }}\n"),
    (K.AD_HOC, Language.RU): Template(subject="{{ subject }}", text="{{ body }}\n"),
    (K.TASK_ASSIGNED, Language.EN): Template(
        subject="New task: {{ task_title }}",
        text='{{ recipient_name }},\n\nYou have been given the task "{{ task_title }}" '
        "({{ category }}) for the event {{ event_title }}.\nDue on {{ due_on }}.\n",
    ),
    (K.TASK_ASSIGNED, Language.RU): Template(
        subject="Новая задача: {{ task_title }}",
        text="{{ recipient_name }},\n\nВам поручена задача «{{ task_title }}» ({{ category }}) "
        "по мероприятию «{{ event_title }}».\nСрок: {{ due_on }}.\n",
    ),
    (K.TASK_CANCELLED, Language.EN): Template(
        subject="Task cancelled: {{ task_title }}",
        text='{{ recipient_name }},\n\nThe task "{{ task_title }}" for the event '
        "{{ event_title }} was cancelled.{% if reason %} Reason: {{ reason }}.{% endif %}\n",
    ),
    (K.TASK_CANCELLED, Language.RU): Template(
        subject="Задача отменена: {{ task_title }}",
        text="{{ recipient_name }},\n\nЗадача «{{ task_title }}» по мероприятию "
        "«{{ event_title }}» отменена.{% if reason %} Причина: {{ reason }}.{% endif %}\n",
    ),
    (K.PLAN_STEP_ASSIGNED, Language.EN): Template(
        subject="Plan step for you: {{ step_title }}",
        text='{{ recipient_name }},\n\nYou are the assignee of the step "{{ step_title }}" '
        "of the proposal {{ proposal_title }}{% if client_name %} to {{ client_name }}"
        "{% endif %}.\n{% if due_on %}Due on {{ due_on }}.\n{% endif %}"
        "{% if approval %}The step needs your approval.\n{% endif %}",
    ),
    (K.PLAN_STEP_ASSIGNED, Language.RU): Template(
        subject="Шаг плана: {{ step_title }}",
        text="{{ recipient_name }},\n\nВам назначен шаг «{{ step_title }}» предложения "
        "«{{ proposal_title }}»{% if client_name %} для клиента {{ client_name }}{% endif %}.\n"
        "{% if due_on %}Срок: {{ due_on }}.\n{% endif %}"
        "{% if approval %}Шаг требует вашего согласования.\n{% endif %}",
    ),
    (K.CURATOR_ASSIGNED, Language.EN): Template(
        subject="You now curate {{ client_name }}",
        text="{{ recipient_name }},\n\nYou have been made the curator of the client "
        "{{ client_name }}.\n",
    ),
    (K.CURATOR_ASSIGNED, Language.RU): Template(
        subject="Вы куратор клиента {{ client_name }}",
        text="{{ recipient_name }},\n\nВы назначены куратором клиента «{{ client_name }}».\n",
    ),
    (K.EVENT_RESCHEDULED, Language.EN): Template(
        subject="Rescheduled: {{ event_title }}",
        text="{{ recipient_name }},\n\n{{ event_title }} has moved from {{ previous_starts_at }} "
        "to {{ starts_at }} – {{ ends_at }} ({{ timezone }}).\nWhere: {{ place }}\n"
        "{% if reason %}Reason: {{ reason }}\n{% endif %}",
    ),
    (K.EVENT_RESCHEDULED, Language.RU): Template(
        subject="Перенос: {{ event_title }}",
        text="{{ recipient_name }},\n\nМероприятие «{{ event_title }}» перенесено с "
        "{{ previous_starts_at }} на {{ starts_at }} – {{ ends_at }} ({{ timezone }}).\n"
        "Где: {{ place }}\n{% if reason %}Причина: {{ reason }}\n{% endif %}",
    ),
    (K.EVENT_CANCELLED, Language.EN): Template(
        subject="Cancelled: {{ event_title }}",
        text="{{ recipient_name }},\n\n{{ event_title }}, planned for {{ starts_at }}, is "
        "cancelled.\n{% if reason %}Reason: {{ reason }}\n{% endif %}",
    ),
    (K.EVENT_CANCELLED, Language.RU): Template(
        subject="Отмена: {{ event_title }}",
        text="{{ recipient_name }},\n\nМероприятие «{{ event_title }}», назначенное на "
        "{{ starts_at }}, отменено.\n{% if reason %}Причина: {{ reason }}\n{% endif %}",
    ),
}
