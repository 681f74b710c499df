"""Building pickup grants the way the cloud does (with the shared hashing of docbox_protocol)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from docbox_protocol.grants import login_hash, new_salt, secret_hash
from docbox_protocol.messages import GrantsAction, PickupGrant, utcnow

LOOKUP_SALT = new_salt()


@dataclass(frozen=True)
class Applicant:
    """What an applicant knows: their login, the PIN from the notification, their birthday."""

    login: str
    pin: str
    dob: date


ALICE = Applicant("+49 171 2345678", "4711", date(1990, 12, 31))
BOB = Applicant("AB-2026/123", "80231", date(1985, 1, 2))


def make_grant(
    compartment: int,
    applicant: Applicant = ALICE,
    *,
    lookup_salt: str = LOOKUP_SALT,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    language: str = "de",
) -> PickupGrant:
    now = utcnow()
    salt = new_salt()
    return PickupGrant(
        grant_id=uuid.uuid4(),
        compartment=compartment,
        login_hash=login_hash(lookup_salt, applicant.login),
        secret_salt=salt,
        secret_hash=secret_hash(salt, applicant.pin, applicant.dob),
        valid_from=valid_from or now - timedelta(minutes=5),
        valid_until=valid_until or now + timedelta(days=7),
        language=language,
    )


def grants_action(
    *grants: PickupGrant, replace_all: bool = False, lookup_salt: str = LOOKUP_SALT
) -> GrantsAction:
    return GrantsAction(lookup_salt=lookup_salt, grants=list(grants), replace_all=replace_all)
