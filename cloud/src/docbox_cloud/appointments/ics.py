"""iCalendar invitations and cancellations (RFC 5545 objects, RFC 5546 iTIP methods).

An invitation is ``METHOD:REQUEST`` with ``SEQUENCE`` 0; its cancellation reuses the ``UID``
with ``METHOD:CANCEL``, ``STATUS:CANCELLED`` and a higher ``SEQUENCE``, so that calendar
programs replace the event instead of adding a second one. Times are local to the office's
time zone, with a ``VTIMEZONE`` for Europe/Berlin (other zones fall back to UTC times).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo

PRODID = "-//docbox//appointments 1.0//EN"

#: Europe/Berlin since 1996 (EU rules): the only zone the offices use today.
_BERLIN_VTIMEZONE = (
    "BEGIN:VTIMEZONE",
    "TZID:Europe/Berlin",
    "BEGIN:DAYLIGHT",
    "TZOFFSETFROM:+0100",
    "TZOFFSETTO:+0200",
    "TZNAME:CEST",
    "DTSTART:19810329T020000",
    "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
    "END:DAYLIGHT",
    "BEGIN:STANDARD",
    "TZOFFSETFROM:+0200",
    "TZOFFSETTO:+0100",
    "TZNAME:CET",
    "DTSTART:19961027T030000",
    "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
    "END:STANDARD",
    "END:VTIMEZONE",
)


@dataclass(frozen=True, slots=True)
class CalendarEvent:
    """What an invitation describes.

    Attributes:
        uid: Globally unique and stable per booking (``<uuid>@<organizer domain>``).
        sequence: Revision number: 0 for the invitation, incremented on every change.
        starts_at: Start (aware).
        ends_at: End (aware).
        timezone: IANA zone of the office.
        summary: Title, in the applicant's language.
        location: Office and counter.
        description: Details (reference, what to bring, how to cancel).
        organizer_email: The office's address.
        organizer_name: The office's name.
        attendee_email: The applicant's address, if they gave one.
        language: BCP 47 tag of the texts.
    """

    uid: str
    sequence: int
    starts_at: datetime
    ends_at: datetime
    timezone: str
    summary: str
    location: str
    description: str
    organizer_email: str
    organizer_name: str
    attendee_email: str | None
    language: str


def escape_text(value: str) -> str:
    """Escape a TEXT value (RFC 5545 §3.3.11): backslash, semicolon, comma, newline."""
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
    )


def _param(value: str) -> str:
    # Parameter values with ':', ';' or ',' must be quoted; DQUOTE itself is not allowed.
    cleaned = value.replace('"', "'")
    return f'"{cleaned}"' if any(ch in cleaned for ch in ":;,") else cleaned


def fold(line: str) -> str:
    """Fold a content line at 75 octets (RFC 5545 §3.1) without splitting UTF-8 sequences."""
    encoded = line.encode()
    if len(encoded) <= 75:
        return line
    parts: list[str] = []
    limit = 75
    while encoded:
        cut = min(limit, len(encoded))
        # Step back to a character boundary (continuation bytes look like 0b10xxxxxx).
        while cut < len(encoded) and (encoded[cut] & 0xC0) == 0x80:
            cut -= 1
        parts.append(encoded[:cut].decode())
        encoded = encoded[cut:]
        limit = 74  # continuation lines start with a space
    return "\r\n ".join(parts)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _local(name: str, moment: datetime, timezone: str) -> str:
    if timezone == "Europe/Berlin":
        return f"{name};TZID=Europe/Berlin:{moment.astimezone(ZoneInfo(timezone)).strftime('%Y%m%dT%H%M%S')}"
    return f"{name}:{_utc(moment)}"


def build_calendar(event: CalendarEvent, method: Literal["REQUEST", "CANCEL"], stamp: datetime) -> bytes:
    """Return the iCalendar object (CRLF line endings, folded, UTF-8).

    Args:
        event: The appointment.
        method: ``REQUEST`` (invitation) or ``CANCEL``.
        stamp: DTSTAMP, when this revision was created.
    """
    lang = f";LANGUAGE={_param(event.language)}"
    lines: list[str] = [
        "BEGIN:VCALENDAR",
        f"PRODID:{PRODID}",
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
        f"METHOD:{method}",
    ]
    if event.timezone == "Europe/Berlin":
        lines.extend(_BERLIN_VTIMEZONE)
    lines += [
        "BEGIN:VEVENT",
        f"UID:{event.uid}",
        f"DTSTAMP:{_utc(stamp)}",
        f"SEQUENCE:{event.sequence}",
        _local("DTSTART", event.starts_at, event.timezone),
        _local("DTEND", event.ends_at, event.timezone),
        f"SUMMARY{lang}:{escape_text(event.summary)}",
        f"LOCATION{lang}:{escape_text(event.location)}",
        f"DESCRIPTION{lang}:{escape_text(event.description)}",
        f"ORGANIZER;CN={_param(event.organizer_name)}:mailto:{event.organizer_email}",
    ]
    if event.attendee_email:
        lines.append(
            "ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;"
            f"PARTSTAT={'NEEDS-ACTION' if method == 'REQUEST' else 'DECLINED'};RSVP=FALSE:"
            f"mailto:{event.attendee_email}"
        )
    lines += [
        f"STATUS:{'CONFIRMED' if method == 'REQUEST' else 'CANCELLED'}",
        "TRANSP:OPAQUE",
        "CLASS:PRIVATE",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return _join(lines)


def _join(lines: Iterable[str]) -> bytes:
    return "".join(f"{fold(line)}\r\n" for line in lines).encode()
