"""Simulated people for the demo: staff who register and load documents, applicants who collect
them at the kiosk with the PIN from their SMS and their date of birth, and the odd vandal."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections.abc import Sequence
from datetime import date, timedelta

import httpx

from docbox_cloud.notify.base import Notification
from docbox_cloud.notify.console import ConsoleNotifier
from docbox_demo.stack import Stack
from docbox_edge.hardware.simulated import SimulatedBox

log = logging.getLogger("docbox.demo.people")

LANGUAGES = ("de", "en", "ar", "tr", "uk", "ru", "fa", "fr")
KINDS = ("residence_permit_card", "residence_permit_card", "travel_document", "other")


async def pickups(
    stack: Stack, phone: ConsoleNotifier, interval_s: float, walk_max_s: float, rng: random.Random
) -> None:
    """Start one document's journey every ``interval_s`` (on average); journeys overlap.

    After the SMS arrives, the applicant needs up to ``walk_max_s`` to reach the box.
    """
    journeys: set[asyncio.Task[None]] = set()
    kiosk_url = stack.agent.kiosk.url if stack.agent.kiosk is not None else None
    if kiosk_url is None:
        raise RuntimeError("the demo needs the box's kiosk")
    async with httpx.AsyncClient(base_url=kiosk_url, timeout=60) as kiosk:
        try:
            for n in itertools.count(1):
                await asyncio.sleep(rng.expovariate(1.0 / interval_s))
                journey = _journey(stack, kiosk, phone, n, walk_max_s, rng)
                task = asyncio.create_task(journey, name=f"journey-{n}")
                journeys.add(task)
                task.add_done_callback(journeys.discard)
        finally:
            for task in journeys:
                task.cancel()
            await asyncio.gather(*journeys, return_exceptions=True)


async def _journey(
    stack: Stack,
    kiosk: httpx.AsyncClient,
    phone: ConsoleNotifier,
    n: int,
    walk_max_s: float,
    rng: random.Random,
) -> None:
    """Register → load (staff) → SMS with PIN → sign in at the kiosk → collect."""
    code = f"DEMO-{n:05d}"
    number = f"+49 151 {rng.randrange(10_000_000, 100_000_000)}"
    born = date(1960, 1, 1) + timedelta(days=rng.randrange(0, 40 * 365))
    try:
        await _staff_registers_and_loads(stack, code, number, born, rng)
        sms = await phone.wait_for(lambda m: _is_ready_sms(m, number), within_s=30)
        pin = sms.text.split("PIN: ", 1)[1][:6]
        await asyncio.sleep(rng.uniform(0, walk_max_s))  # the applicant is on their way to the box
        await _applicant_collects(kiosk, code, number, pin, born, rng)
    except (httpx.HTTPError, TimeoutError, _Refused) as exc:
        log.warning("%s: journey ended early: %s", code, exc)


async def _staff_registers_and_loads(
    stack: Stack, code: str, number: str, born: date, rng: random.Random
) -> None:
    kind = rng.choice(KINDS)
    registered = await stack.api.post(
        "/api/v1/documents",
        json={
            "code": code,
            "case_number": f"A-2026-{code[-5:]}",
            "kind": kind,
            "contact_channel": "sms",
            "contact": number,
            "date_of_birth": born.isoformat(),
            "language": rng.choice(LANGUAGES),
            # A card fits the small low compartments that wheelchair users can reach.
            "needs_low": kind == "residence_permit_card" and rng.random() < 0.1,
        },
    )
    _expect(registered, 201, f"{code}: registration")
    loaded = await stack.api.post(f"/api/v1/boxes/{stack.config.box_id}/loads", json={"document_code": code})
    _expect(loaded, 200, f"{code}: loading")
    log.info("staff loaded %s into compartment %d", code, loaded.json()["compartment"])


async def _applicant_collects(
    kiosk: httpx.AsyncClient, code: str, number: str, pin: str, born: date, rng: random.Random
) -> None:
    dob = born.strftime("%d.%m.%Y")
    if rng.random() < 0.15:  # a typo first: the kiosk says no, and counts it
        typo = f"{(int(pin) + 1) % 1_000_000:06d}"
        wrong = (await kiosk.post("/api/signin", json={"login": number, "pin": typo, "dob": dob})).json()
        log.info("%s: applicant mistyped the PIN; kiosk answered %s", code, wrong.get("reason"))
    signed_in = await kiosk.post("/api/signin", json={"login": number, "pin": pin, "dob": dob})
    body = signed_in.json()
    if not body.get("ok"):
        raise _Refused(f"sign-in refused: {body}")
    for document in body["documents"]:
        ref = {"session": body["session"], "grant_id": document["grant_id"]}
        opened = (await kiosk.post("/api/open", json=ref)).json()
        if opened.get("outcome") != "opened":
            raise _Refused(f"compartment did not open: {opened}")
        handed = (await kiosk.post("/api/handover", json=ref)).json()
        log.info(
            "%s: applicant collected it from compartment %d (phone + PIN + date of birth)%s",
            code,
            document["compartment"],
            "" if handed.get("done") else " - door still open",
        )


def _is_ready_sms(message: Notification, number: str) -> bool:
    return (
        message.kind == "pickup.ready" and message.to == number.replace(" ", "") and "PIN: " in message.text
    )


def _expect(response: httpx.Response, status: int, what: str) -> None:
    if response.status_code != status:
        raise _Refused(f"{what} answered {response.status_code}: {response.text[:200]}")


class _Refused(Exception):
    """A step of a simulated journey did not go as a person would expect."""


async def vandal(
    box: SimulatedBox, compartments: Sequence[int], interval_s: float, rng: random.Random
) -> None:
    """Now and then somebody forces a door; the edge reports forced_open, then it is shut."""
    while True:
        await asyncio.sleep(rng.expovariate(1.0 / interval_s))
        number = rng.choice(compartments)
        if box.door_is_open(number):
            continue
        log.info("a vandal forces compartment %d open", number)
        box.force_open(number)
        await asyncio.sleep(3.0)
        box.person_shuts(number)
