"""Simulated people for the demo: applicants who collect and the occasional vandal."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence

import httpx

from docbox_edge.hardware.simulated import SimulatedBox

log = logging.getLogger("docbox.demo.people")


async def applicants(
    api: httpx.AsyncClient,
    box: SimulatedBox,
    box_id: str,
    compartments: Sequence[int],
    interval_s: float,
    rng: random.Random,
) -> None:
    """Every ``interval_s`` (on average) an applicant asks the cloud to open a compartment.

    The simulated box's auto-person then pulls the door and shuts it a few seconds later, so
    every request runs the whole path: REST → signed command → edge → coil → door sensor.
    """
    while True:
        await asyncio.sleep(rng.expovariate(1.0 / interval_s))
        number = rng.choice(compartments)
        if box.door_is_open(number):
            continue  # somebody is at that compartment already
        started = time.perf_counter()
        try:
            response = await api.post(f"/api/v1/boxes/{box_id}/compartments/{number}/open")
        except httpx.HTTPError as exc:
            log.warning("applicant at compartment %d: request failed: %s", number, exc)
            continue
        ms = (time.perf_counter() - started) * 1000
        if response.status_code == 200:
            log.info("applicant at compartment %d: door opened (%.0f ms)", number, ms)
        else:
            body = response.json() if response.headers.get("content-type") == "application/json" else {}
            log.info(
                "applicant at compartment %d: %s %s", number, response.status_code, body.get("detail", "")
            )


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
