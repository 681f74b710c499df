"""Proof of work on reservations: ALTCHA-compatible challenges, each redeemable once.

The challenge format is ALTCHA's (v1): the client finds ``number`` such that
``SHA-256(salt + number) == challenge`` and sends back base64 JSON
``{algorithm, challenge, number, salt, signature}`` — the ``altcha`` widget does this, and so
does the booking page's small script. The salt carries an expiry; redeemed signatures are
stored in ``appt_used_challenges`` so a solution works once, on any replica.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from altcha import v1 as altcha
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from docbox_cloud.appointments.errors import ProofOfWorkError
from docbox_cloud.appointments.models import UsedChallenge


@dataclass(frozen=True, slots=True)
class PowChallenge:
    """A challenge as the ALTCHA widget expects it."""

    algorithm: str
    challenge: str
    maxnumber: int
    salt: str
    signature: str


def create_challenge(key: bytes, max_number: int, expires_at: datetime) -> PowChallenge:
    """Create a signed challenge that expires at ``expires_at``."""
    challenge = altcha.create_challenge(
        altcha.ChallengeOptions(algorithm="SHA-256", max_number=max_number, hmac_key=key, expires=expires_at)
    )
    return PowChallenge(
        algorithm=challenge.algorithm,
        challenge=challenge.challenge,
        maxnumber=challenge.max_number,
        salt=challenge.salt,
        signature=challenge.signature,
    )


def solve(challenge: PowChallenge) -> str:
    """Solve ``challenge`` and return the payload to submit (tests and scripted clients)."""
    solution = altcha.solve_challenge(challenge.challenge, challenge.salt, "SHA-256", challenge.maxnumber)
    if solution is None:
        raise ProofOfWorkError("challenge has no solution within maxnumber")
    payload = {
        "algorithm": challenge.algorithm,
        "challenge": challenge.challenge,
        "number": solution.number,
        "salt": challenge.salt,
        "signature": challenge.signature,
    }
    return base64.b64encode(json.dumps(payload).encode()).decode()


async def redeem(
    session: AsyncSession, payload: str | None, key: bytes, now: datetime, ttl: timedelta
) -> None:
    """Verify a solution and mark it used (in the caller's transaction).

    Raises:
        ProofOfWorkError: if the payload is missing, malformed, wrong, expired or used before.
    """
    if not payload:
        raise ProofOfWorkError("proof of work missing: solve a challenge from /api/v1/appointments/challenge")
    ok, error = altcha.verify_solution(payload, key, check_expires=True)
    if not ok:
        raise ProofOfWorkError(f"proof of work rejected: {error or 'wrong solution'}")
    signature = json.loads(base64.b64decode(payload))["signature"]
    try:
        async with session.begin_nested():
            session.add(UsedChallenge(signature=str(signature)[:128], expires_at=now + ttl))
            await session.flush()
    except IntegrityError:
        raise ProofOfWorkError("proof of work already used: solve a new challenge") from None


async def purge_used(session: AsyncSession, now: datetime) -> int:
    """Forget redeemed challenges that have expired anyway; return how many."""
    result = await session.execute(delete(UsedChallenge).where(UsedChallenge.expires_at < now))
    return int(getattr(result, "rowcount", 0) or 0)
