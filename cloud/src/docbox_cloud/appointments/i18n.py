"""Translation catalogues of the booking page and the applicant's messages (one JSON per language)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib.resources import files
from typing import Any
from zoneinfo import ZoneInfo

#: The kiosk's eight languages, in the order the language choice shows them.
LANGUAGES: tuple[str, ...] = ("de", "en", "ar", "tr", "uk", "ru", "fa", "fr")
RTL_LANGUAGES = frozenset({"ar", "fa"})
FALLBACK = "en"


@cache
def catalogue(language: str) -> dict[str, Any]:
    """The catalogue of ``language`` (read once)."""
    text = (files("docbox_cloud.appointments") / "locales" / f"{language}.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@dataclass(frozen=True, slots=True)
class Translator:
    """Texts of one language, falling back to English for missing keys."""

    language: str

    @property
    def direction(self) -> str:
        """``rtl`` for Arabic and Farsi, else ``ltr``."""
        return "rtl" if self.language in RTL_LANGUAGES else "ltr"

    def __call__(self, key: str, **params: object) -> str:
        """The text for ``key`` with ``{name}`` placeholders filled in."""
        value = catalogue(self.language).get(key)
        if not isinstance(value, str):
            value = catalogue(FALLBACK).get(key, key)
        assert isinstance(value, str)
        return value.format(**params) if params else value

    def when(self, moment: datetime, timezone: str) -> str:
        """Weekday, date and time of ``moment`` in the office's zone, in this language's format."""
        local = moment.astimezone(ZoneInfo(timezone))
        weekdays = catalogue(self.language).get("weekdays") or catalogue(FALLBACK)["weekdays"]
        date_format = self("date_format")
        return f"{weekdays[local.weekday()]}, {local.strftime(date_format)}, {local.strftime('%H:%M')}"

    def time(self, moment: datetime, timezone: str) -> str:
        """Wall-clock time of ``moment`` in the office's zone (HH:MM)."""
        return moment.astimezone(ZoneInfo(timezone)).strftime("%H:%M")


def translator(language: str) -> Translator:
    """A translator for ``language``; unknown languages get English."""
    return Translator(language if language in LANGUAGES else FALLBACK)
