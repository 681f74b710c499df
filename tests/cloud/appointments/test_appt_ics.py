"""The invitations parse with the independent ``icalendar`` package and carry the RFC 5545/5546 fields."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import icalendar

from docbox_cloud.appointments.ics import CalendarEvent, build_calendar, escape_text, fold
from docbox_cloud.appointments.messages import AppointmentView, cancelled_message, confirmed_message

BOOKING_ID = uuid.UUID("12345678-1234-5678-1234-567812345678")
START = datetime(2026, 3, 3, 8, 12, tzinfo=UTC)  # 09:12 in Berlin (CET)
SUMMER_START = datetime(2026, 7, 1, 7, 36, tzinfo=UTC)  # 09:36 in Berlin (CEST)


def _view(start: datetime = START, language: str = "ar", sequence: int = 0) -> AppointmentView:
    return AppointmentView(
        booking_id=BOOKING_ID,
        office_name="Ausländerbehörde Mitte; Haus 2, Eingang B",
        office_timezone="Europe/Berlin",
        organizer_email="termine@office.example",
        counter_name="E1",
        starts_at=start,
        ends_at=start + timedelta(minutes=20),
        category="permit_expiring",
        language=language,
        contact_channel="email",
        contact="anna@example.org",
        sequence=sequence,
    )


def _event(data: bytes) -> tuple[icalendar.Calendar, icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(data)
    (event,) = calendar.walk("VEVENT")
    assert isinstance(event, icalendar.Event)
    return calendar, event


def test_appt_ics_invitation_fields() -> None:
    message = confirmed_message(_view(), "https://book.example/cancel?t=x", START - timedelta(days=1))
    (attachment,) = message.attachments
    assert attachment.content_type == "text/calendar; method=REQUEST; charset=utf-8"
    assert b"\r\n" in attachment.data
    assert all(len(line) <= 75 for line in attachment.data.split(b"\r\n"))

    calendar, event = _event(attachment.data)
    assert calendar["METHOD"] == "REQUEST"
    assert calendar["VERSION"] == "2.0"
    assert calendar["PRODID"]
    assert str(event["UID"]) == f"{BOOKING_ID}@office.example"
    assert event.decoded("SEQUENCE") == 0
    assert str(event["STATUS"]) == "CONFIRMED"
    assert str(event["ORGANIZER"]) == "mailto:termine@office.example"
    assert event["ORGANIZER"].params["CN"] == "Ausländerbehörde Mitte; Haus 2, Eingang B"
    assert str(event["ATTENDEE"]) == "mailto:anna@example.org"
    start = event.decoded("DTSTART")
    assert str(start.tzinfo) == "Europe/Berlin"
    assert (start.hour, start.minute) == (9, 12)
    assert start == START
    assert event.decoded("DTEND") - start == timedelta(minutes=20)
    assert event.decoded("DTSTAMP") == START - timedelta(days=1)
    (timezone,) = calendar.walk("VTIMEZONE")
    assert str(timezone["TZID"]) == "Europe/Berlin"
    # Escaped text survives the round trip, in the applicant's language.
    assert str(event["LOCATION"]) == "Ausländerbehörde Mitte; Haus 2, Eingang B, E1"
    assert "موعد" in str(event["SUMMARY"])


def test_appt_ics_summer_time_and_cancellation() -> None:
    invitation = confirmed_message(
        _view(SUMMER_START, "de"), "https://x/cancel", SUMMER_START - timedelta(days=2)
    )
    _, invited = _event(invitation.attachments[0].data)
    local = invited.decoded("DTSTART")
    assert (local.hour, local.minute) == (9, 36)
    assert local.utcoffset() == timedelta(hours=2)

    cancellation = cancelled_message(_view(SUMMER_START, "de", sequence=1), SUMMER_START - timedelta(days=1))
    (attachment,) = cancellation.attachments
    assert attachment.content_type.startswith("text/calendar; method=CANCEL")
    calendar, cancelled = _event(attachment.data)
    assert calendar["METHOD"] == "CANCEL"
    assert str(cancelled["UID"]) == str(invited["UID"])
    assert cancelled.decoded("SEQUENCE") == invited.decoded("SEQUENCE") + 1
    assert str(cancelled["STATUS"]) == "CANCELLED"
    assert cancellation.language == "de"
    assert "abgesagt" in cancellation.subject


def test_appt_ics_sms_contact_gets_no_calendar() -> None:
    sms_view = replace(_view(), contact_channel="sms", contact="+4915112345678")
    message = confirmed_message(sms_view, "https://x/cancel", START)
    assert message.channel == "sms"
    assert message.attachments == ()


def test_appt_ics_folding_and_escaping() -> None:
    assert escape_text("a,b;c\\d\ne") == "a\\,b\\;c\\\\d\\ne"
    long = "DESCRIPTION:" + "ä" * 100
    folded = fold(long)
    assert all(len(part.encode()) <= 75 for part in folded.split("\r\n"))
    assert folded.replace("\r\n ", "") == long
    event = CalendarEvent(
        uid="u@x",
        sequence=3,
        starts_at=START,
        ends_at=START + timedelta(minutes=5),
        timezone="UTC",
        summary="s",
        location="l",
        description="d",
        organizer_email="o@x.example",
        organizer_name="O",
        attendee_email=None,
        language="en",
    )
    _, parsed = _event(build_calendar(event, "REQUEST", START))
    assert parsed.decoded("DTSTART") == START
    assert "ATTENDEE" not in parsed
