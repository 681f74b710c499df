"""Texts of alarm notifications and annotations, in German and English."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from docbox_cloud.alarms.models import AlarmType

Language = Literal["de", "en"]

_TITLES: dict[Language, dict[AlarmType, str]] = {
    "de": {
        AlarmType.FORCED_OPEN: "gewaltsam geöffnet",
        AlarmType.LEFT_OPEN: "Tür offen gelassen",
        AlarmType.JAMMED: "Schloss klemmt (Tür öffnete nicht)",
        AlarmType.FLAPPING: "Türsensor flattert",
        AlarmType.BOX_OFFLINE: "Automat offline",
        AlarmType.OUTBOX_BACKLOG: "Automat sendet Ereignisse nicht",
        AlarmType.COMPARTMENT_DEFECTIVE: "Fach defekt (wiederholt geklemmt)",
    },
    "en": {
        AlarmType.FORCED_OPEN: "forced open",
        AlarmType.LEFT_OPEN: "door left open",
        AlarmType.JAMMED: "lock jammed (door did not open)",
        AlarmType.FLAPPING: "door sensor flapping",
        AlarmType.BOX_OFFLINE: "box offline",
        AlarmType.OUTBOX_BACKLOG: "box is not sending its events",
        AlarmType.COMPARTMENT_DEFECTIVE: "compartment defective (jammed repeatedly)",
    },
}

_WORDS: dict[Language, dict[str, str]] = {
    "de": {
        "compartment": "Fach",
        "box": "Automat",
        "raised": "Alarm",
        "cleared": "Alarm behoben",
        "since": "seit",
        "at": "um",
        "detail": "Details",
        "id": "Alarm-Nr.",
    },
    "en": {
        "compartment": "compartment",
        "box": "box",
        "raised": "Alarm",
        "cleared": "Alarm cleared",
        "since": "since",
        "at": "at",
        "detail": "Details",
        "id": "Alarm no.",
    },
}


@dataclass(frozen=True, slots=True)
class AlarmText:
    """Subject and body of one alarm message."""

    subject: str
    text: str


def title(kind: AlarmType, language: Language = "de") -> str:
    """A short human title of an alarm kind."""
    return _TITLES[language][kind]


def describe(
    *,
    kind: AlarmType,
    box_id: str,
    compartment: int | None,
    raised: bool,
    at: datetime,
    detail: str | None,
    alarm_id: int,
    language: Language = "de",
) -> AlarmText:
    """The message announcing that an alarm was raised (or cleared)."""
    words = _WORDS[language]
    where = f"{words['box']} {box_id}"
    if compartment is not None:
        where = f"{words['compartment']} {compartment}, {where}"
    head = words["raised"] if raised else words["cleared"]
    subject = f"docbox {head}: {title(kind, language)} – {where}"
    lines = [
        f"{head}: {title(kind, language)}",
        where,
        f"{words['at'] if not raised else words['since']} {at.strftime('%Y-%m-%d %H:%M:%S')} UTC",
        f"{words['id']} {alarm_id} ({kind.value})",
    ]
    if detail:
        lines.append(f"{words['detail']}: {detail}")
    return AlarmText(subject=subject, text="\n".join(lines))
