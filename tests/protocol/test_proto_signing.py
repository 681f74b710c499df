"""Ed25519 command signing and the validity window."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from docbox_protocol import SignatureError
from docbox_protocol.messages import (
    Command,
    RejectReason,
    SignedCommand,
    SnapshotAction,
    UnlockAction,
)
from docbox_protocol.signing import (
    CommandSigner,
    CommandVerifier,
    b64d,
    b64e,
    check_window,
    generate_private_key,
    load_private_key,
    load_public_key,
    private_key_pem,
    public_key_pem,
)

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


@pytest.fixture
def signer() -> CommandSigner:
    return CommandSigner(generate_private_key())


@pytest.fixture
def verifier(signer: CommandSigner) -> CommandVerifier:
    return CommandVerifier([signer._key.public_key()])


def _reason(exc: pytest.ExceptionInfo[SignatureError]) -> RejectReason:
    return RejectReason(exc.value.args[0])


def test_signed_command_verifies(signer: CommandSigner, verifier: CommandVerifier) -> None:
    cmd = signer.command("box-1", UnlockAction(compartment=12), now=NOW)
    assert verifier.verify(signer.sign(cmd)) == cmd
    assert cmd.expires_at - cmd.issued_at == timedelta(seconds=10)


def test_signature_from_another_key_is_refused(verifier: CommandVerifier) -> None:
    intruder = CommandSigner(generate_private_key())
    signed = intruder.sign(intruder.command("box-1", UnlockAction(compartment=1)))
    with pytest.raises(SignatureError) as exc:
        verifier.verify(signed)
    assert _reason(exc) is RejectReason.UNKNOWN_KEY


def test_forged_key_id_with_foreign_signature_is_refused(
    signer: CommandSigner, verifier: CommandVerifier
) -> None:
    intruder = CommandSigner(generate_private_key())
    signed = intruder.sign(intruder.command("box-1", UnlockAction(compartment=1)))
    forged = signed.model_copy(update={"key_id": signer.key_id})
    with pytest.raises(SignatureError) as exc:
        verifier.verify(forged)
    assert _reason(exc) is RejectReason.BAD_SIGNATURE


def test_tampered_payload_is_refused(signer: CommandSigner, verifier: CommandVerifier) -> None:
    signed = signer.sign(signer.command("box-1", UnlockAction(compartment=1)))
    body = json.loads(b64d(signed.payload))
    body["body"]["compartment"] = 2
    tampered = signed.model_copy(update={"payload": b64e(json.dumps(body).encode())})
    with pytest.raises(SignatureError) as exc:
        verifier.verify(tampered)
    assert _reason(exc) is RejectReason.BAD_SIGNATURE


def test_non_base64_signature_is_malformed(signer: CommandSigner, verifier: CommandVerifier) -> None:
    signed = signer.sign(signer.command("box-1", SnapshotAction()))
    broken = SignedCommand.model_construct(key_id=signed.key_id, payload="a", signature=signed.signature)
    with pytest.raises(SignatureError) as exc:
        verifier.verify(broken)
    assert _reason(exc) in {RejectReason.MALFORMED, RejectReason.BAD_SIGNATURE}


def test_keys_round_trip_through_pem(signer: CommandSigner) -> None:
    key = generate_private_key()
    again = load_private_key(private_key_pem(key))
    pub = load_public_key(public_key_pem(key.public_key()))
    msg = b"hello"
    pub.verify(again.sign(msg), msg)
    with pytest.raises(SignatureError):
        load_public_key(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")


def test_rotation_accepts_old_and_new_key() -> None:
    old, new = CommandSigner(generate_private_key()), CommandSigner(generate_private_key())
    verifier = CommandVerifier([old._key.public_key(), new._key.public_key()])
    for s in (old, new):
        assert verifier.verify(s.sign(s.command("box-1", SnapshotAction()))).box_id == "box-1"


@pytest.mark.parametrize(
    ("box", "offset_s", "reason"),
    [
        ("box-1", 0.0, None),
        ("box-1", 14.0, None),  # within expiry + clock skew
        ("box-2", 0.0, RejectReason.WRONG_BOX),
        ("box-1", 16.0, RejectReason.EXPIRED),
        ("box-1", -6.0, RejectReason.NOT_YET_VALID),
    ],
)
def test_check_window(signer: CommandSigner, box: str, offset_s: float, reason: RejectReason | None) -> None:
    cmd = signer.command("box-1", UnlockAction(compartment=3), now=NOW)
    result = check_window(cmd, box, NOW + timedelta(seconds=offset_s))
    assert (result[0] if result else None) == reason


def test_overlong_lifetime_is_refused() -> None:
    cmd = Command(
        id="00000000-0000-4000-8000-000000000001",
        box_id="box-1",
        issued_at=NOW,
        expires_at=NOW + timedelta(hours=1),
        body=UnlockAction(compartment=1),
    )
    result = check_window(cmd, "box-1", NOW)
    assert result is not None
    assert result[0] is RejectReason.LIFETIME_TOO_LONG


def test_command_rejects_expiry_before_issue() -> None:
    with pytest.raises(ValueError, match="expires_at"):
        Command(
            id="00000000-0000-4000-8000-000000000001",
            box_id="box-1",
            issued_at=NOW,
            expires_at=NOW,
            body=SnapshotAction(),
        )


def test_non_canonical_base64_is_refused(signer: CommandSigner, verifier: CommandVerifier) -> None:
    """Two spellings of the same bytes: only the canonical one verifies (no malleable envelope)."""
    signed = signer.sign(signer.command("box-1", SnapshotAction()))
    last = signed.signature[-1]
    # The final character of unpadded base64 carries unused low bits: find a sibling spelling.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    siblings = [
        c for c in alphabet if c != last and b64d_lenient(signed.signature[:-1] + c) == b64d(signed.signature)
    ]
    assert siblings, "test needs a signature length with unused bits"
    twin = signed.model_copy(update={"signature": signed.signature[:-1] + siblings[0]})
    with pytest.raises(SignatureError) as exc:
        verifier.verify(twin)
    assert _reason(exc) is RejectReason.MALFORMED


def b64d_lenient(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
