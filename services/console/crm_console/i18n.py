"""Russian and English: the words of the pages, and dates, numbers and money in the person's
locale (Babel, from the Unicode CLDR).

The pages are written in English; :data:`RUSSIAN` gives each phrase in Russian. A phrase with
no translation shows in English (``tests/console_unit/test_i18n.py`` checks that every phrase the
templates use has one).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal, get_currency_precision

LANGUAGES: Final = ("ru", "en")
LOCALES: Final = {"ru": "ru_RU", "en": "en_GB"}
LANGUAGE_NAMES: Final = {"ru": "Русский", "en": "English"}
ZONE: Final = ZoneInfo("Europe/Moscow")
"""Where the console's people are; times are stored in UTC and shown here."""

RUSSIAN: Final[dict[str, str]] = {
    "CRM console": "CRM: рабочее место",
    "My work": "Мои задачи",
    "Clients": "Клиенты",
    "Proposals": "Предложения",
    "Events": "Мероприятия",
    "Sign in": "Войти",
    "Sign out": "Выйти",
    "Language": "Язык",
    "Change": "Сменить",
    "Main menu": "Главное меню",
    "Skip to content": "Перейти к содержимому",
    "Signed in as": "Вы вошли как",
    "Roles": "Роли",
    "Something went wrong": "Что-то пошло не так",
    "Back to my work": "Вернуться к моим задачам",
    "The service answered": "Сервис ответил",
    "Refused by the rule": "Отказано по правилу",
    "Roles that may do this": "Роли, которым это разрешено",
    "Your session has ended. Please sign in again.": "Сеанс завершён. Войдите снова.",
    "This sign-in has expired or was started elsewhere. Please sign in again.": (
        "Этот вход устарел или был начат в другом окне. Войдите снова."
    ),
    "The request is not valid.": "Запрос составлен неверно.",
    "Your roles do not allow this.": "Ваши роли этого не разрешают.",
    "This page does not exist.": "Такой страницы нет.",
    "Service unavailable": "Сервис недоступен",
    "Not found": "Не найдено",
    "Forbidden": "Запрещено",
    "Check-in code missing": "Не указан код регистрации",
    "Type the guest's check-in code.": "Введите код регистрации гостя.",
    "Sign in with your company account to open the console.": (
        "Войдите под учётной записью компании, чтобы открыть рабочее место."
    ),
    "You have signed out.": "Вы вышли из системы.",
    "The form has expired. Reload the page and try again.": (
        "Форма устарела. Обновите страницу и попробуйте снова."
    ),
    "Your sign-in is not linked to an employee record, so nothing is assigned to you yet.": (
        "Ваша учётная запись не связана с сотрудником, поэтому вам пока ничего не назначено."
    ),
    # My work
    "My plan steps": "Мои шаги планов",
    "My event tasks": "Мои задачи по мероприятиям",
    "My clients": "Мои клиенты",
    "Discounts waiting for approval": "Скидки, ожидающие согласования",
    "Overdue": "Просрочено",
    "Due": "Срок",
    "Nothing here.": "Здесь пока пусто.",
    "More is assigned to you than one page shows: the most recent come first.": (
        "Вам назначено больше, чем помещается на странице: сначала показаны самые свежие."
    ),
    "Task": "Задача",
    "Step": "Шаг",
    "Event": "Мероприятие",
    "Proposal": "Предложение",
    "State": "Состояние",
    # Clients
    "Search": "Найти",
    "Search clients": "Поиск клиентов",
    "Name, tax id or tag": "Название, ИНН или тег",
    "Status": "Статус",
    "Any": "Любой",
    "Tag": "Тег",
    "Region": "Регион",
    "Only my clients": "Только мои клиенты",
    "Name": "Название",
    "Curator": "Куратор",
    "People": "Люди",
    "Registered": "Зарегистрирован",
    "No clients match.": "Клиенты не найдены.",
    "Next page": "Следующая страница",
    "Details": "Сведения",
    "Kind": "Вид",
    "Field of activity": "Сфера деятельности",
    "Tags": "Теги",
    "Website": "Сайт",
    "Position": "Должность",
    "Channels": "Каналы связи",
    "Consents": "Согласия",
    "granted": "дано",
    "refused": "не дано",
    "hidden by your role": "скрыто для вашей роли",
    "Curator history": "История кураторов",
    "from": "с",
    "until": "по",
    "no curator": "куратор не назначен",
    "Timeline": "Хронология",
    "Messages sent": "Отправленные сообщения",
    "sending": "отправляется",
    "retry": "повтор",
    "When": "Когда",
    "What": "Что",
    "Who": "Кто",
    "Total": "Итого",
    # Proposals
    "Board": "Доска",
    "Title": "Название",
    "Client": "Клиент",
    "Lines": "Строки",
    "Item": "Позиция",
    "Quantity": "Количество",
    "Unit price": "Цена",
    "Discount": "Скидка",
    "Line total": "Сумма",
    "Subtotal": "Без скидки",
    "Valid until": "Действует до",
    "Revision": "Редакция",
    "Action plan": "План действий",
    "Assignee": "Исполнитель",
    "Approval": "Согласование",
    "Approve the discount": "Согласовать скидку",
    "The discount needs an approval.": "Скидка требует согласования.",
    "The discount is approved.": "Скидка согласована.",
    "Only a discount approver may approve a discount.": (
        "Согласовать скидку может только согласующий скидки."
    ),
    "Approval refused": "В согласовании отказано",
    "four-eyes": "принцип четырёх глаз",
    "A discount is approved by someone who neither wrote the proposal nor curates its client.": (
        "Скидку согласует тот, кто не составлял предложение и не курирует клиента."
    ),
    "No proposals.": "Предложений нет.",
    "draft": "черновик",
    "presented": "представлено",
    "negotiation": "переговоры",
    "won": "выиграно",
    "lost": "проиграно",
    "withdrawn": "отозвано",
    "pending": "ожидает",
    "ready": "готов",
    "in_progress": "в работе",
    "done": "выполнен",
    "skipped": "пропущен",
    "blocked": "заблокирован",
    "potential": "потенциальный",
    "active": "действующий",
    "partner": "партнёр",
    "dealer": "дилер",
    "former": "бывший",
    "micro": "микро",
    "small": "малый",
    "medium": "средний",
    "large": "крупный",
    # Programmes
    "Programmes": "Программы",
    "Define a programme": "Создать программу",
    "Target portrait": "Целевой портрет",
    "Budget": "Бюджет",
    "From": "С",
    "To": "По",
    "No programmes yet.": "Программ пока нет.",
    "Promoted items (codes, comma-separated)": "Продвигаемые позиции (коды через запятую)",
    "Client statuses": "Статусы клиентов",
    "Client sizes": "Размеры клиентов",
    "Fields of activity (codes, comma-separated)": "Сферы деятельности (коды через запятую)",
    "Regions (comma-separated)": "Регионы (через запятую)",
    "Tags (a client matches with any one; comma-separated)": (
        "Теги (клиенту достаточно одного; через запятую)"
    ),
    "Save the programme": "Сохранить программу",
    "The programme is saved.": "Программа сохранена.",
    "Type a date.": "Введите дату.",
    # Events
    "Plan-schedule": "План-график",
    "Previous month": "Предыдущий месяц",
    "Next month": "Следующий месяц",
    "Previous week": "Предыдущая неделя",
    "Next week": "Следующая неделя",
    "Month": "Месяц",
    "Week": "Неделя",
    "Week of": "Неделя с",
    "Show the plan-schedule by": "Показать план-график за",
    "No events.": "Мероприятий нет.",
    "Download the month as iCalendar": "Скачать месяц в формате iCalendar",
    "Subscribe in a calendar program": "Подписаться в программе-календаре",
    "Your iCalendar link (keep it to yourself: it reads the plan-schedule)": (
        "Ваша ссылка iCalendar (не передавайте её: по ней читается план-график)"
    ),
    "Open": "Открыть",
    "Starts": "Начало",
    "Place": "Место",
    "Open tasks": "Открытые задачи",
    "No events this month.": "В этом месяце мероприятий нет.",
    "Participants": "Участники",
    "Responsible": "Ответственные",
    "Preparation tasks": "Подготовительные задачи",
    "Check-in": "Регистрация на входе",
    "Check-in code": "Код регистрации",
    "Check in": "Отметить приход",
    "checked in": "отмечен(а)",
    "scheduled": "запланировано",
    "cancelled": "отменено",
    "completed": "проведено",
    "planned": "запланирован",
    "waitlisted": "в листе ожидания",
    "invited": "приглашён",
    "delivered": "приглашение доставлено",
    "failed": "не доставлено",
    "accepted": "принял приглашение",
    "declined": "отклонил приглашение",
    "attended": "пришёл",
    "no_show": "не пришёл",
    "open": "открыта",
    # Editing: proposals, contacts, events
    "A new revision is made.": "Создана новая редакция.",
    "About the proposal": "По предложению",
    "Actions": "Действия",
    "Add a line": "Добавить строку",
    "Add people by the programme's portrait": "Добавить людей по портрету программы",
    "Added by the portrait: {added}; on the waiting list: {waitlisted}.": (
        "Добавлено по портрету: {added}; в листе ожидания: {waitlisted}."
    ),
    "Address": "Адрес",
    "Budget, RUB": "Бюджет, руб.",
    "Capacity": "Вместимость",
    "Choose a person.": "Выберите человека.",
    "Choose an item of the catalogue.": "Выберите позицию каталога.",
    "Compare": "Сравнить",
    "Critical path": "Критический путь",
    "Discount, %": "Скидка, %",
    "Done": "Выполнено",
    "Edit the draft": "Изменить черновик",
    "Ends (Moscow time)": "Окончание (время московское)",
    "Expected finish": "Ожидаемое завершение",
    "Invitation run": "Рассылка приглашений",
    "Invitations": "Приглашения",
    "Invite those not yet invited": "Пригласить ещё не приглашённых",
    "It is submitted for approval.": "Она отправлена на согласование.",
    "Made": "Создана",
    "Make the revision": "Создать редакцию",
    "Mark as won": "Отметить как выигранное",
    "Marked: what differs between the two revisions.": (
        "Выделено то, чем две редакции различаются."
    ),
    "Needs: catalogue codes, comma-separated": "Потребности: коды каталога через запятую",
    "Needs: tags, comma-separated": "Потребности: теги через запятую",
    "Negotiate": "Перейти к переговорам",
    "New proposal": "Новое предложение",
    "New revision": "Новая редакция",
    "Next steps": "Следующие шаги",
    "Our company": "Наша компания",
    "Outcome": "Итог",
    "Person": "Человек",
    "Present to the client": "Представить клиенту",
    "Programme": "Программа",
    "Record a contact": "Записать контакт",
    "Record the contact": "Записать контакт",
    "Register the proposal": "Зарегистрировать предложение",
    "Revisions side by side": "Редакции рядом",
    "Role in the deal": "Роль в сделке",
    "Save the draft": "Сохранить черновик",
    "Schedule": "Запланировать",
    "Schedule an event": "Запланировать мероприятие",
    "Some fields need correcting.": "Некоторые поля нужно исправить.",
    "Starts (Moscow time)": "Начало (время московское)",
    "Submit for approval": "Отправить на согласование",
    "The client": "Клиент",
    "The client's preferences": "Пожелания клиента",
    "The contact is recorded.": "Контакт записан.",
    "The draft is saved.": "Черновик сохранён.",
    "The event is scheduled.": "Мероприятие запланировано.",
    "The invitations are on their way.": "Приглашения рассылаются.",
    "The proposal is registered.": "Предложение зарегистрировано.",
    "The discount is submitted for approval.": "Скидка отправлена на согласование.",
    "The proposal is presented.": "Предложение представлено клиенту.",
    "The proposal is in negotiation.": "По предложению идут переговоры.",
    "The proposal is withdrawn.": "Предложение отозвано.",
    "The proposal is won.": "Предложение выиграно.",
    "Topic": "Тема",
    "Totals as typed": "Итоги по введённому",
    "Type a date and time.": "Введите дату и время.",
    "Type a percentage, e.g. 12.5.": "Введите процент, например 12,5.",
    "Type a whole number.": "Введите целое число.",
    "Type an amount, e.g. 1500.00.": "Введите сумму, например 1500,00.",
    "Venue": "Площадка",
    "What was said": "О чём говорили",
    "Who started it": "Кто начал",
    "Who takes part": "Участники сделки",
    "Why it is revised": "Причина новой редакции",
    "With whom": "С кем",
    "Withdraw": "Отозвать",
    "a call": "звонок",
    "a letter": "письмо",
    "a meeting": "встреча",
    "a service visit": "сервисный визит",
    "a talk at an event": "беседа на мероприятии",
    "after": "после",
    "an e-mail": "электронное письмо",
    "critical": "критический",
    "changed": "изменено",
    "Invite to an event": "Пригласить на мероприятие",
    "Add to the event": "Добавить в участники",
    "No scheduled events ahead.": "Запланированных мероприятий впереди нет.",
    "Choose an event.": "Выберите мероприятие.",
    "Added to the event: {added}; on the waiting list: {waitlisted}.": (
        "Добавлено в участники: {added}; в листе ожидания: {waitlisted}."
    ),
    "Why it is lost": "Почему проиграно",
    "To which competitor": "Какому конкуренту",
    "Mark as lost": "Отметить как проигранное",
    "Sales model": "Модель продаж",
    "Replace the plan from the model": "Заменить план по модели",
    "Generate the plan from the model": "Составить план по модели",
    "Mark as done": "Отметить выполненным",
    "The step is done.": "Шаг выполнен.",
    "The step is not done": "Шаг не выполнен",
    "The proposal is lost.": "Предложение проиграно.",
    "The plan is generated from the sales model.": "План составлен по модели продаж.",
    # What changed
    "What changed since I last looked": "Что изменилось с моего последнего просмотра",
    "In the last week": "За последнюю неделю",
    "Since": "С",
    "Where": "Где",
    "And more": "И ещё",
    "Nothing has changed.": "Ничего не изменилось.",
    "Mark all as seen": "Отметить всё как просмотренное",
    # Duplicates
    "Likely duplicates": "Вероятные дубликаты",
    "They share": "Что у них общего",
    "the same tax id": "один ИНН",
    "the same name": "одно название",
    "a person's e-mail": "e-mail контактного лица",
    "a person's phone": "телефон контактного лица",
    "Keep this one, merge the other into it": "Оставить этого, влить в него другого",
    "Not duplicates": "Не дубликаты",
    "No likely duplicates.": "Вероятных дубликатов нет.",
    "Merged: {people} people and {contacts} contacts moved.": (
        "Объединено: перенесено людей — {people}, контактов — {contacts}."
    ),
    "Marked as not duplicates.": "Отмечено, что это не дубликаты.",
    "Moved": "Перемещено",
    # The event's effectiveness and questionnaire
    "Effectiveness": "Эффективность",
    "Planned": "Запланировано",
    "Delivered": "Доставлено",
    "Declined": "Отказались",
    "Did not come": "Не пришли",
    "Questionnaire responses": "Ответов на анкету",
    "Response rate": "Доля ответивших",
    "Contact records": "Записи о контактах",
    "Actual cost": "Фактические затраты",
    "Cost per new potential client": "Затраты на нового потенциального клиента",
    "Budget variance": "Отклонение от бюджета",
    "Questionnaire": "Анкета",
    "No questionnaire for this event.": "Для мероприятия нет анкеты.",
    "Link for anyone at the event": "Ссылка для всех участников мероприятия",
    "required": "обязательный",
    "Options": "Варианты",
    "single_choice": "один вариант",
    "multiple_choice": "несколько вариантов",
    "scale": "шкала",
    "free_text": "свободный ответ",
    "product_interest": "интерес к продукции",
    "contact_details": "контактные данные",
    # The questionnaire's results on the event's page
    "Questionnaire results": "Результаты анкетирования",
    "Responses": "Ответы",
    "electronic": "электронные",
    "paper": "бумажные",
    "Without answers (kept before answers were stored)": (
        "Без ответов (получены до того, как ответы стали сохраняться)"
    ),
    "answered": "ответили",
    "mean": "среднее",
    "texts erased": "текстов удалено",
    "Answer": "Ответ",
    "Share of those who answered": "Доля ответивших на вопрос",
    "no longer an option": "вариант исключён из анкеты",
    "The newest texts.": "Показаны последние ответы.",
    "Every text given to this question": "Все ответы на этот вопрос",
    "Free texts, newest first.": "Свободные ответы, сначала новые.",
    "Older texts": "Более ранние ответы",
    # Analysis
    "Accepted": "Приняли",
    "At the event": "На мероприятии",
    "Analysis": "Аналитика",
    "Came": "Пришли",
    "Code": "Код",
    "Conversion": "Конверсия",
    "Cost per guest": "Затраты на гостя",
    "Day": "День",
    "Decisive": "Решающий",
    "Download as CSV": "Скачать в CSV",
    "Event effectiveness": "Эффективность мероприятий",
    "Guests who came to each event": "Пришедшие гости по мероприятиям",
    "How often each step was taken in won deals": "Как часто шаг встречался в выигранных сделках",
    "Invited": "Приглашено",
    "Lost deals": "Проигранные сделки",
    "Market needs": "Потребности рынка",
    "Median hours": "Медиана, часов",
    "Mentions": "Упоминания",
    "Mentions in all": "Всего упоминаний",
    "Mentions of each item in contacts and at events": (
        "Упоминания каждой позиции в контактах и на мероприятиях"
    ),
    "Mined sales model": "Выявленная модель продаж",
    "New potential clients": "Новые потенциальные клиенты",
    "Open plans that skipped a decisive step": "Открытые планы, пропустившие решающий шаг",
    "Overdue steps": "Просроченные шаги",
    "Participation": "Явка",
    "Pipeline and conversion": "Воронка и конверсия",
    "Proposals registered in the period, by status": (
        "Предложения, зарегистрированные за период, по статусам"
    ),
    "Share": "Доля",
    "Share in lost": "Доля в проигранных",
    "Share in won": "Доля в выигранных",
    "Show": "Показать",
    "Won": "Выиграно",
    "Won deals": "Выигранные сделки",
    "yes": "да",
    "left": "слева",
    "list price": "по прайсу",
    "not in this revision": "нет в этой редакции",
    "not known: a step has no due date": "неизвестно: у шага нет срока",
    "other": "другое",
    "processed": "обработано",
    "queued": "в очереди",
    "finished": "завершена",
    "right": "справа",
    "running": "идёт",
    "the client did": "клиент",
    "we did": "мы",
}

Translate = Callable[[str], str]


def translator(language: str) -> Translate:
    if language == "ru":
        return lambda text: RUSSIAN.get(text, text)
    return lambda text: text


class Formats:
    """Dates, numbers and money for one language."""

    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else "ru"
        self.locale = Locale.parse(LOCALES[self.language])

    def date(self, value: Any) -> str:
        parsed = _when(value)
        if parsed is None:
            return ""
        if isinstance(parsed, dt.datetime):
            parsed = parsed.astimezone(ZONE).date()
        return format_date(parsed, "medium", locale=self.locale)

    def datetime(self, value: Any) -> str:
        parsed = _when(value)
        if parsed is None:
            return ""
        if not isinstance(parsed, dt.datetime):
            return format_date(parsed, "medium", locale=self.locale)
        return format_datetime(parsed.astimezone(ZONE), "short", tzinfo=ZONE, locale=self.locale)

    def month(self, value: dt.date) -> str:
        return format_date(value, "LLLL yyyy", locale=self.locale)

    def day(self, value: dt.date) -> str:
        """A day of a week view: ``Monday, 7 December``."""
        return format_date(value, "EEEE, d MMMM", locale=self.locale)

    def number(self, value: Any) -> str:
        if value is None:
            return ""
        return format_decimal(value, locale=self.locale)

    def money(self, value: Any) -> str:
        """``{"amount_minor": 150000, "currency": "RUB"}`` as the locale writes it."""
        if not isinstance(value, dict) or "amount_minor" not in value:
            return ""
        currency = str(value.get("currency") or "RUB")
        digits = get_currency_precision(currency)
        amount = Decimal(int(value["amount_minor"])).scaleb(-digits)
        return format_currency(amount, currency, locale=self.locale)

    def ratio(self, value: Any) -> str:
        """A share from 0 to 1 (``0.125``) as a percentage (``12,5 %``)."""
        if value is None:
            return ""
        return self.percent(round(float(value) * 10_000))

    def percent(self, basis_points: Any) -> str:
        if basis_points is None:
            return ""
        return format_decimal(Decimal(int(basis_points)) / 100, locale=self.locale) + " %"


def _when(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value
    text = str(value)
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
