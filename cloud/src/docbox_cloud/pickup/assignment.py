"""Choosing a compartment for a document: free, working, big enough, low when needed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

SIZES = ("S", "M", "L")

#: The size class a document kind needs by default (cards fit S, passports M, the rest L).
SIZE_BY_KIND = {"residence_permit_card": "S", "travel_document": "M", "other": "L"}


@dataclass(frozen=True, slots=True)
class Candidate:
    """What assignment needs to know about one compartment."""

    number: int
    size: str | None
    height_cm: int | None
    door: str
    alarms: tuple[str, ...]
    occupied: bool
    defective: bool


def fits(size: str | None, needed: str) -> bool:
    """Tell whether a compartment of ``size`` holds a document needing ``needed`` (unknown never)."""
    return size in SIZES and SIZES.index(size) >= SIZES.index(needed)


def choose(
    candidates: Iterable[Candidate], *, needed: str, low: bool, accessible_cm: tuple[int, int]
) -> int | None:
    """Return the number of the best compartment, or None when none fits.

    Usable: not occupied, not defective, no active alarm, door closed, big enough, and — when
    ``low`` — with its door bottom within ``accessible_cm``. Among those the smallest size wins
    (big compartments stay free for big documents), then, for documents that do not need a low
    compartment, one outside the accessible band (keep the low ones free), then the lowest number.
    """
    lo, hi = accessible_cm

    def accessible(c: Candidate) -> bool:
        return c.height_cm is not None and lo <= c.height_cm <= hi

    usable = [
        c
        for c in candidates
        if not c.occupied
        and not c.defective
        and not c.alarms
        and c.door == "closed"
        and fits(c.size, needed)
        and (accessible(c) or not low)
    ]
    if not usable:
        return None
    best = min(
        usable,
        key=lambda c: (SIZES.index(c.size or "L"), (not low) and accessible(c), c.number),
    )
    return best.number
