"""The applicant's messages (code, confirmation, reminder, cancellation, triage), in their language."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from docbox_cloud.appointments.categories import EVIDENCE, CategoryName
from docbox_cloud.appointments.i18n import Translator, translator
from docbox_cloud.appointments.ics import CalendarEvent, build_calendar
from docbox_cloud.notify import Attachment, Notification


@dataclass(frozen=True, slots=True)
class AppointmentView:
    """Everything a message about one appointment needs (no database objects)."""

    booking_id: uuid.UUID
    office_name: str
    office_timezone: str
    organizer_email: str
    counter_name: str
    starts_at: datetime
    ends_at: datetime
    category: str | None
    language: str
    contact_channel: Literal["email", "sms"]
    contact: str
    sequence: int

    @property
    def reference(self) -> str:
        """Short reference shown to applicant and staff (first 8 hex digits of the id)."""
        return self.booking_id.hex[:8].upper()

    @property
    def uid(self) -> str:
        """The iCalendar UID: the booking's UUID at the office's mail domain."""
        return f"{self.booking_id}@{self.organizer_email.rpartition('@')[2] or 'docbox.invalid'}"


def _evidence(t: Translator, category: str | None) -> str:
    if category is None or category not in EVIDENCE:
        return t("ev_none")
    items: tuple[str, ...] = EVIDENCE[category]
    return ", ".join(t(f"ev_{item}") for item in items)


def _common(view: AppointmentView) -> dict[str, str]:
    t = translator(view.language)
    return {
        "when": t.when(view.starts_at, view.office_timezone),
        "where": f"{view.office_name}, {view.counter_name}",
        "reference": view.reference,
        "evidence": _evidence(t, view.category),
    }


def _notification(
    view: AppointmentView, kind: str, subject: str, text: str, *attachments: Attachment
) -> Notification:
    return Notification(
        channel=view.contact_channel,
        to=view.contact,
        subject=subject,
        text=text,
        language=translator(view.language).language,
        attachments=attachments if view.contact_channel == "email" else (),
        kind=kind,
    )


def _calendar(view: AppointmentView, method: Literal["REQUEST", "CANCEL"], stamp: datetime) -> Attachment:
    t = translator(view.language)
    common = _common(view)
    event = CalendarEvent(
        uid=view.uid,
        sequence=view.sequence,
        starts_at=view.starts_at,
        ends_at=view.ends_at,
        timezone=view.office_timezone,
        summary=t("ics_summary", office=view.office_name),
        location=common["where"],
        description=t("ics_description", reference=common["reference"], evidence=common["evidence"]),
        organizer_email=view.organizer_email,
        organizer_name=view.office_name,
        attendee_email=view.contact if view.contact_channel == "email" else None,
        language=t.language,
    )
    data = build_calendar(event, method, stamp)
    name = "invite.ics" if method == "REQUEST" else "cancel.ics"
    return Attachment(name, f"text/calendar; method={method}; charset=utf-8", data)


def code_message(view: AppointmentView, code: str, link: str, hold_until: datetime) -> Notification:
    """The confirmation code and link for a fresh reservation."""
    t = translator(view.language)
    until = t.time(hold_until, view.office_timezone)
    return _notification(
        view,
        "appointment.code",
        t("msg_code_subject", code=code),
        t("msg_code_text", code=code, link=link, until=until, **_common(view)),
    )


def confirmed_message(view: AppointmentView, cancel_link: str, stamp: datetime) -> Notification:
    """The confirmation with an iCalendar invitation (METHOD:REQUEST)."""
    t = translator(view.language)
    common = _common(view)
    return _notification(
        view,
        "appointment.confirmation",
        t("msg_confirmed_subject", **common),
        t("msg_confirmed_text", cancel_link=cancel_link, **common),
        _calendar(view, "REQUEST", stamp),
    )


def reminder_message(view: AppointmentView) -> Notification:
    """The reminder before the appointment."""
    t = translator(view.language)
    common = _common(view)
    return _notification(
        view, "appointment.reminder", t("msg_reminder_subject", **common), t("msg_reminder_text", **common)
    )


def cancelled_message(view: AppointmentView, stamp: datetime) -> Notification:
    """The cancellation notice with an iCalendar cancellation (METHOD:CANCEL)."""
    t = translator(view.language)
    common = _common(view)
    return _notification(
        view,
        "appointment.cancellation",
        t("msg_cancelled_subject", **common),
        t("msg_cancelled_text", **common),
        _calendar(view, "CANCEL", stamp),
    )


def offer_message(view: AppointmentView, link: str, until: datetime) -> Notification:
    """A triage offer with the link to accept or decline it."""
    t = translator(view.language)
    common = _common(view)
    return _notification(
        view,
        "appointment.offer",
        t("msg_offer_subject", **common),
        t("msg_offer_text", link=link, until=t.when(until, view.office_timezone), **common),
    )


def request_filed_message(
    language: str, channel: Literal["email", "sms"], contact: str, link: str, category: CategoryName
) -> Notification:
    """Acknowledgement of a triage request with its status link."""
    t = translator(language)
    return Notification(
        channel=channel,
        to=contact,
        subject=t("msg_request_subject"),
        text=t("msg_request_text", link=link, category=t(f"cat_{category}")),
        language=t.language,
        kind="appointment.request",
    )
