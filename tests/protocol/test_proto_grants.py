"""Pickup grant hashing shared by cloud and edge: normalisation, login hash, secret hash, verify."""

import base64
import hashlib
from datetime import date

import pytest

from docbox_protocol.grants import (
    GrantError,
    login_hash,
    new_salt,
    normalise_login,
    secret_hash,
    verify_login,
    verify_secret,
)
from docbox_protocol.messages import PickupGrant

DOB = date(1990, 4, 1)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+49 176 1234-5678", "+4917612345678"),
        ("0049 (176) 12345678", "+4917612345678"),
        ("0176/12345678", "+4917612345678"),
        ("4917612345678", "+4917612345678"),
        ("  ab-2026/123 ", "AB-2026/123"),
        ("Ab 2026 77", "AB202677"),
    ],
)
def test_normalise_login_canonical_forms(raw: str, expected: str) -> None:
    assert normalise_login(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("+49 12", "8 to 15 digits"),
        ("+0049123456789", "8 to 15 digits"),
        ("AB#1", "neither"),
        ("x" * 65, "longer than 64"),
    ],
)
def test_normalise_login_rejects_with_reason(raw: str, reason: str) -> None:
    with pytest.raises(GrantError, match=reason):
        normalise_login(raw)


def test_login_hash_is_sha256_of_salt_and_normalised_login() -> None:
    salt = "c2FsdHNhbHRzYWx0c2FsdA"
    expected = hashlib.sha256(b"c2FsdHNhbHRzYWx0c2FsdA+4917612345678").hexdigest()
    assert login_hash(salt, "0176 1234 5678") == expected
    assert verify_login(salt, expected, "+49-176-12345678")
    assert not verify_login(salt, expected, "+49-176-12345679")
    assert not verify_login(salt, expected, "###")


def test_secret_hash_matches_the_documented_scrypt_formula() -> None:
    salt = new_salt()
    expected = hashlib.scrypt(
        b"123456|1990-04-01", salt=base64.urlsafe_b64decode(salt + "=="), n=2**14, r=8, p=1, dklen=32
    )
    assert secret_hash(salt, "123456", DOB) == base64.urlsafe_b64encode(expected).rstrip(b"=").decode()


def test_verify_secret_needs_both_factors() -> None:
    salt = new_salt()
    digest = secret_hash(salt, "123456", DOB)
    assert verify_secret(salt, digest, "123456", DOB)
    assert not verify_secret(salt, digest, "123457", DOB)
    assert not verify_secret(salt, digest, "123456", date(1990, 4, 2))
    assert not verify_secret(salt, digest, "12ab", DOB)


def test_secret_hash_rejects_bad_pin_and_salt() -> None:
    with pytest.raises(GrantError, match="PIN"):
        secret_hash(new_salt(), "12", DOB)
    with pytest.raises(GrantError, match="salt"):
        secret_hash("not a salt!", "123456", DOB)


def test_hashes_fit_the_pickup_grant_model() -> None:
    lookup, secret_salt = new_salt(), new_salt()
    grant = PickupGrant.model_validate(
        {
            "grant_id": "8f7c0a4e-4c1f-4e59-9b1e-1d8f4a1c2b3d",
            "compartment": 7,
            "login_hash": login_hash(lookup, "AB-1"),
            "secret_salt": secret_salt,
            "secret_hash": secret_hash(secret_salt, "000000", DOB),
            "valid_from": "2026-11-25T10:00:00Z",
            "valid_until": "2026-12-05T10:00:00Z",
        }
    )
    assert len(grant.secret_hash) == 43
    assert new_salt() != new_salt()
