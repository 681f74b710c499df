"""Staff loading at the kiosk in Chromium, with a fake cloud answering the load requests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from docbox_protocol import codec
from docbox_protocol.messages import KioskAnswer, KioskRequest, RetrieveRequest, UnlockAction, utcnow
from docbox_protocol.topics import Channel, topic
from tests.browser.kiosk_app import BOX_ID, KioskApp, running_kiosk
from tests.cloud.mqtt_peers import mqtt_peer
from tests.support.services import MosquittoServer

pytestmark = [pytest.mark.browser, pytest.mark.integration]

#: Which compartment the fake cloud assigns to which document; others are refused.
ASSIGNMENTS = {"DOC-1": 3, "DOC-2": 6}
RETRIEVE_NEXT = 8


@pytest.fixture
async def kiosk(mosquitto: MosquittoServer, tmp_path: Path) -> AsyncIterator[KioskApp]:
    async with running_kiosk(mosquitto, tmp_path / "edge") as app:
        yield app


@contextlib.asynccontextmanager
async def fake_cloud(broker: MosquittoServer, kiosk: KioskApp) -> AsyncIterator[list[KioskRequest]]:
    """Answers each load request: a signed unlock with the request id, or a refusal."""
    received: list[KioskRequest] = []
    subscribed = asyncio.Event()

    async def serve() -> None:
        async with mqtt_peer(broker, "fake-cloud") as client:
            await client.subscribe(topic(BOX_ID, Channel.REQUESTS), qos=1)
            subscribed.set()
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                request = codec.decode(KioskRequest, message.payload)
                received.append(request)
                code = request.body.document_code
                # A retrieval without a code takes out the next document due: compartment 8.
                number = ASSIGNMENTS.get(code) if code is not None else RETRIEVE_NEXT
                if request.body.staff_pin != "246810":
                    answer = KioskAnswer(
                        request_id=request.id,
                        box_id=BOX_ID,
                        at=utcnow(),
                        ok=False,
                        code="staff_denied",
                        message="Staff ID or PIN not accepted",
                    )
                    await client.publish(topic(BOX_ID, Channel.ANSWERS), codec.encode(answer), qos=1)
                elif number is None:
                    answer = KioskAnswer(
                        request_id=request.id,
                        box_id=BOX_ID,
                        at=utcnow(),
                        ok=False,
                        code="unknown_document",
                        message="Document not registered",
                    )
                    await client.publish(topic(BOX_ID, Channel.ANSWERS), codec.encode(answer), qos=1)
                else:
                    action = UnlockAction(compartment=number, request_id=request.id)
                    signed = kiosk.signer.sign(kiosk.signer.command(BOX_ID, action))
                    await client.publish(topic(BOX_ID, Channel.COMMANDS), codec.encode(signed), qos=1)

    task = asyncio.create_task(serve())
    try:
        async with asyncio.timeout(10):
            await subscribed.wait()
        yield received
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def staff_sign_in(page: Page, pin: str = "246810") -> None:
    await page.click("#btn-staff")
    await page.fill("#staff-id", "mueller")
    await page.fill("#staff-pin", pin)
    await page.click("#form-staff [type=submit]")
    await expect(page.locator("#document-code")).to_be_focused()


async def test_staff_load_documents_one_after_the_other(
    kiosk: KioskApp, page: Page, mosquitto: MosquittoServer
) -> None:
    kiosk.sim.auto_person(open_after_s=0.1, shut_after_s=0.3, compartments=[3, 6])
    async with fake_cloud(mosquitto, kiosk) as requests:
        await page.goto(f"{kiosk.url}/?lang=en")
        await staff_sign_in(page)
        # A barcode scanner types the code and presses Enter.
        await page.keyboard.type("DOC-1")
        await page.keyboard.press("Enter")
        await expect(page.locator("#load-result")).to_have_text(
            "Put the document in compartment 3 and shut the door."
        )
        await expect(page.locator("#btn-next")).to_be_focused()
        await page.click("#btn-next")
        await expect(page.locator("#document-code")).to_have_value("")
        await page.keyboard.type("DOC-2")
        await page.keyboard.press("Enter")
        await expect(page.locator("#load-result")).to_have_text(
            "Put the document in compartment 6 and shut the door."
        )
        await page.click("#btn-next")
        await page.keyboard.type("DOC-404")
        await page.keyboard.press("Enter")
        await expect(page.locator("#error")).to_have_text("Not possible: Document not registered")
        assert [r.body.document_code for r in requests] == ["DOC-1", "DOC-2", "DOC-404"]
        assert {r.body.staff_id for r in requests} == {"mueller"}
    assert (kiosk.sim.pulse_count(3), kiosk.sim.pulse_count(6)) == (1, 1)


async def test_a_refused_staff_pin_is_shown(kiosk: KioskApp, page: Page, mosquitto: MosquittoServer) -> None:
    async with fake_cloud(mosquitto, kiosk):
        await page.goto(f"{kiosk.url}/?lang=de")
        await staff_sign_in(page, pin="1111")
        await page.keyboard.type("DOC-1")
        await page.keyboard.press("Enter")
        await expect(page.locator("#error")).to_have_text("Nicht möglich: Staff ID or PIN not accepted")
        await expect(page.locator("#error")).to_have_attribute("lang", "de")
    assert kiosk.sim.pulse_count(3) == 0


async def test_staff_loading_needs_the_connection(
    kiosk: KioskApp, page: Page, mosquitto: MosquittoServer
) -> None:
    await page.goto(f"{kiosk.url}/?lang=en")
    await staff_sign_in(page)
    await asyncio.to_thread(mosquitto.stop)
    async with asyncio.timeout(10):
        await kiosk.agent.link.disconnected.wait()
    await page.keyboard.type("DOC-1")
    await page.keyboard.press("Enter")
    await expect(page.locator("#error")).to_have_text(
        "Loading needs a connection to the office system. The box is offline."
    )


async def test_staff_take_out_the_next_document_due(
    kiosk: KioskApp, page: Page, mosquitto: MosquittoServer
) -> None:
    kiosk.sim.auto_person(open_after_s=0.1, shut_after_s=0.3, compartments=[RETRIEVE_NEXT])
    async with fake_cloud(mosquitto, kiosk) as requests:
        await page.goto(f"{kiosk.url}/?lang=en")
        await staff_sign_in(page)
        await page.click("#btn-retrieve")
        await expect(page.locator("#load-result")).to_have_text(
            "Take the document out of compartment 8 and shut the door."
        )
        (request,) = requests
        assert isinstance(request.body, RetrieveRequest)
        assert request.body.document_code is None
    assert kiosk.sim.pulse_count(RETRIEVE_NEXT) == 1
