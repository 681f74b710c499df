"""Pure parts of the pickup domain: text catalogue, assignment, encryption, staff PINs, audit hashes."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from docbox_cloud.errors import ConfigError
from docbox_cloud.pickup.assignment import Candidate, choose
from docbox_cloud.pickup.audit import GENESIS, entry_hash
from docbox_cloud.pickup.crypto import DataCipher
from docbox_cloud.pickup.models import AuditEntry
from docbox_cloud.pickup.staffpins import hash_pin, verify_pin
from docbox_cloud.pickup.texts import CATALOGUE, LANGUAGES, render


@pytest.mark.parametrize("kind", list(CATALOGUE))
def test_every_message_exists_in_every_language_with_the_same_placeholders(kind: str) -> None:
    texts = CATALOGUE[kind]  # type: ignore[index]
    assert set(texts) == set(LANGUAGES)
    fields = {
        lang: {f for _, f, _, _ in string.Formatter().parse(body) if f} for lang, (_, body) in texts.items()
    }
    assert len({frozenset(f) for f in fields.values()}) == 1, fields


def test_render_fills_in_values_and_falls_back_to_german() -> None:
    subject, body = render("ready", "fa", pin="123456", until="2026-12-05", ref="ABC")
    assert "123456" in body
    assert "2026-12-05" in body
    assert subject == CATALOGUE["ready"]["fa"][0]
    assert render("reminder", "xx", until="2026-12-05", ref="ABC")[0] == CATALOGUE["reminder"]["de"][0]


def _c(number: int, size: str, height: int, **kw: object) -> Candidate:
    values: dict[str, object] = {"door": "closed", "alarms": (), "occupied": False, "defective": False}
    values.update(kw)
    return Candidate(number=number, size=size, height_cm=height, **values)  # type: ignore[arg-type]


def test_choose_skips_unusable_compartments_and_keeps_low_ones_for_those_who_need_them() -> None:
    layout = [
        _c(1, "S", 60),
        _c(2, "S", 150, occupied=True),
        _c(3, "S", 160, defective=True),
        _c(4, "S", 170, alarms=("left_open",)),
        _c(5, "S", 180, door="open"),
        _c(6, "S", 190),
        _c(7, "M", 50),
    ]
    band = (40, 120)
    assert choose(layout, needed="S", low=False, accessible_cm=band) == 6
    assert choose(layout, needed="S", low=True, accessible_cm=band) == 1
    assert choose(layout, needed="M", low=False, accessible_cm=band) == 7
    assert choose(layout, needed="L", low=False, accessible_cm=band) is None
    assert choose([_c(1, "S", 200)], needed="S", low=True, accessible_cm=band) is None


def test_cipher_round_trip_and_wrong_key() -> None:
    cipher = DataCipher(SecretStr(Fernet.generate_key().decode()))
    token = cipher.encrypt("+4917612345678")
    assert b"4917612345678" not in token
    assert cipher.decrypt(token) == "+4917612345678"
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        DataCipher(SecretStr(Fernet.generate_key().decode())).decrypt(token)
    with pytest.raises(ConfigError, match="Fernet key"):
        DataCipher(SecretStr("too-short"))


def test_staff_pin_hashes_are_salted_and_verify() -> None:
    first, second = hash_pin("4711"), hash_pin("4711")
    assert first != second
    assert re.fullmatch(r"scrypt\$[\w-]+\$[\w-]{43}", first)
    assert verify_pin("4711", first)
    assert not verify_pin("4712", first)
    assert not verify_pin("4711", "md5$x$y")
    assert not verify_pin("4711", "garbage")


def test_audit_hash_covers_every_field() -> None:
    entry = AuditEntry(
        seq=1,
        at=datetime(2026, 1, 1, tzinfo=UTC),
        action="registered",
        document_id=None,
        box_id=None,
        compartment=None,
        actor="api",
        detail={"kind": "other"},
        prev_hash=GENESIS,
    )
    original = entry_hash(entry)
    for field, value in (
        ("actor", "staff:x"),
        ("detail", {"kind": "eat"}),
        ("seq", 2),
        ("prev_hash", "1" * 64),
    ):
        changed = AuditEntry(
            **{
                **{
                    c: getattr(entry, c)
                    for c in (
                        "seq",
                        "at",
                        "action",
                        "document_id",
                        "box_id",
                        "compartment",
                        "actor",
                        "detail",
                        "prev_hash",
                    )
                },
                field: value,
            }
        )
        assert entry_hash(changed) != original, field
