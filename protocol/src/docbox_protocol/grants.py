"""Pickup grant hashing, shared by the cloud (which builds grants) and the edge (which checks sign-ins).

The box never learns an applicant's login, PIN or date of birth. A
:class:`~docbox_protocol.messages.PickupGrant`
carries only

* ``login_hash = sha256(lookup_salt || normalised login)`` as lowercase hex, where ``lookup_salt`` is
  the UTF-8 of the base64url salt string sent in the :class:`~docbox_protocol.messages.GrantsAction`, and
* ``secret_hash = base64url(scrypt(pin || "|" || date_of_birth_iso, salt=b64url_decode(secret_salt),
  n=2**14, r=8, p=1, dklen=32))`` without padding.

Logins are phone numbers (normalised to E.164, ``+`` followed by digits) or case numbers (normalised
to upper case without blanks). Both sides must normalise identically, so both use this module.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import date

from docbox_protocol.errors import ProtocolError
from docbox_protocol.signing import b64d, b64e

#: scrypt cost parameters fixed by the protocol (about 16 MiB and ~50 ms per check on a Pi 4).
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_DKLEN = 32

#: Default country calling code for national phone numbers ("0171 …" in Germany).
DEFAULT_COUNTRY_CODE = "49"

_PHONE_SEPARATORS = re.compile(r"[\s\-./()]")
_PHONE = re.compile(r"^\+?[0-9]+$")
_CASE_NUMBER = re.compile(r"^[A-Z0-9][A-Z0-9\-/.]{0,63}$")
_PIN = re.compile(r"^[0-9]{4,12}$")
_SALT = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class GrantError(ProtocolError):
    """A login, PIN or salt that cannot be used to build or check a grant; the text says why."""


def normalise_login(raw: str, *, default_country_code: str = DEFAULT_COUNTRY_CODE) -> str:
    """Return the canonical form of a login: E.164 for phone numbers, upper case for case numbers.

    Phone numbers may be typed with blanks, dashes, dots, slashes or brackets; ``00`` and a single
    leading ``0`` (national format) are turned into ``+`` and ``+<default_country_code>``.

    Args:
        raw: What the applicant typed or the office registered.
        default_country_code: Country calling code for numbers written in national format.

    Returns:
        ``+4917612345678`` or ``AB-2026/123``.

    Raises:
        GrantError: if the login is empty, too long, or neither a phone number nor a case number.
    """
    text = raw.strip()
    if not text:
        raise GrantError("login is empty")
    if len(text) > 64:
        raise GrantError("login is longer than 64 characters")
    compact = _PHONE_SEPARATORS.sub("", text)
    if _PHONE.fullmatch(compact):
        return _e164(compact, default_country_code)
    case_number = re.sub(r"\s+", "", text).upper()
    if not _CASE_NUMBER.fullmatch(case_number):
        raise GrantError("login is neither a phone number nor a case number (letters, digits, - / .)")
    return case_number


def _e164(digits: str, default_country_code: str) -> str:
    if digits.startswith("+"):
        number = digits[1:]
    elif digits.startswith("00"):
        number = digits[2:]
    elif digits.startswith("0"):
        number = default_country_code + digits[1:]
    else:
        # Without any prefix a bare digit string is taken as already carrying its country code.
        number = digits
    if not 8 <= len(number) <= 15 or number.startswith("0"):
        raise GrantError("phone number must have 8 to 15 digits including the country code")
    return "+" + number


def new_salt(nbytes: int = 16) -> str:
    """Return a fresh random salt as unpadded base64url (22 characters for 16 bytes)."""
    return b64e(secrets.token_bytes(nbytes))


def login_hash(lookup_salt: str, login: str) -> str:
    """Return ``sha256(lookup_salt || normalised login)`` as lowercase hex.

    Args:
        lookup_salt: The base64url salt string of the grant set (hashed as its UTF-8 text).
        login: The login as typed; it is normalised first.
    """
    normalised = normalise_login(login)
    return hashlib.sha256(lookup_salt.encode() + normalised.encode()).hexdigest()


def secret_hash(secret_salt: str, pin: str, date_of_birth: date) -> str:
    """Return ``base64url(scrypt(pin || "|" || date_of_birth_iso))`` for one grant.

    Raises:
        GrantError: if the PIN is not 4-12 digits or the salt is not base64url.
    """
    if not _PIN.fullmatch(pin):
        raise GrantError("PIN must be 4 to 12 digits")
    if not _SALT.fullmatch(secret_salt):
        raise GrantError("secret salt must be 16-64 base64url characters")
    salt = b64d(secret_salt)
    secret = f"{pin}|{date_of_birth.isoformat()}".encode()
    digest = hashlib.scrypt(
        secret, salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=SCRYPT_DKLEN, maxmem=64 * 1024 * 1024
    )
    return b64e(digest)


def verify_secret(secret_salt: str, expected_hash: str, pin: str, date_of_birth: date) -> bool:
    """Return whether ``pin`` and ``date_of_birth`` match ``expected_hash`` (constant-time compare).

    A malformed PIN simply does not match; it is not an error at the kiosk.
    """
    try:
        actual = secret_hash(secret_salt, pin, date_of_birth)
    except GrantError:
        return False
    return hmac.compare_digest(actual, expected_hash)


def verify_login(lookup_salt: str, expected_hash: str, login: str) -> bool:
    """Return whether ``login`` (as typed) matches ``expected_hash``; unusable logins never match."""
    try:
        actual = login_hash(lookup_salt, login)
    except GrantError:
        return False
    return hmac.compare_digest(actual, expected_hash)
