"""An applicant at the kiosk in Chromium: sign in, collect, wrong PIN, lockout, timeouts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from docbox_protocol.messages import PickupCompleted, SignInFailed, SignInFailReason
from tests.browser.kiosk_app import KioskApp, running_kiosk
from tests.edge.grant_helpers import ALICE, Applicant, grants_action, make_grant
from tests.support.services import MosquittoServer

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture
async def kiosk(mosquitto: MosquittoServer, tmp_path: Path) -> AsyncIterator[KioskApp]:
    async with running_kiosk(mosquitto, tmp_path / "edge", signin_login_max_failures=3) as app:
        yield app


async def sign_in(page: Page, applicant: Applicant, *, pin: str | None = None) -> None:
    """Type the login on the keyboard, the PIN on the on-screen keypad, the birthday typed."""
    await page.click("#btn-collect")
    await expect(page.locator("#login")).to_be_focused()
    await page.fill("#login", applicant.login)
    await page.click("#pin")
    for digit in pin or applicant.pin:
        await page.click(f".key[data-key='{digit}']")
    await page.fill("#dob", applicant.dob.strftime("%d.%m.%Y"))
    await page.click("#form-signin [type=submit]")


async def test_an_applicant_signs_in_and_collects_their_document(kiosk: KioskApp, page: Page) -> None:
    grant = make_grant(5)
    kiosk.install(grants_action(grant))
    kiosk.sim.auto_person(open_after_s=0.1, shut_after_s=0.5, compartments=[5])
    await page.goto(f"{kiosk.url}/?lang=en")
    await expect(page.locator("#net")).to_have_text("Online")

    await sign_in(page, ALICE)

    await expect(page.locator("#h-opened")).to_have_text("Compartment 5 is open")
    await expect(page.locator("#opened-text")).to_have_text("Please take your document and shut the door.")
    await expect(page.locator("#h-done")).to_be_visible()
    await expect(page.locator("#h-done")).to_have_text("Thank you! Your document has been handed over.")
    (completed,) = await kiosk.events(PickupCompleted)
    assert isinstance(completed, PickupCompleted)
    assert (completed.grant_id, completed.offline) == (grant.grant_id, False)
    assert kiosk.sim.pulse_count(5) == 1
    await page.click("#screen-done [data-action=home]")
    await expect(page.locator("#btn-collect")).to_be_focused()


async def test_several_documents_are_listed_and_collected_one_after_the_other(
    kiosk: KioskApp, page: Page
) -> None:
    kiosk.install(grants_action(make_grant(2), make_grant(7)))
    kiosk.sim.auto_person(open_after_s=0.1, shut_after_s=0.3, compartments=[2, 7])
    await page.goto(f"{kiosk.url}/?lang=en")
    await sign_in(page, ALICE)
    buttons = page.locator("#documents button")
    await expect(buttons).to_have_text(["Open compartment 2", "Open compartment 7"])
    await buttons.nth(1).click()
    await expect(page.locator("#h-opened")).to_have_text("Compartment 7 is open")
    await expect(buttons).to_have_text(["Open compartment 2"])
    await buttons.first.click()
    await expect(page.locator("#h-opened")).to_have_text("Compartment 2 is open")
    await expect(page.locator("#h-done")).to_be_visible()
    assert len(await kiosk.events(PickupCompleted, count=2)) == 2


async def test_a_wrong_pin_is_announced_and_repeated_failures_lock_the_login(
    kiosk: KioskApp, page: Page
) -> None:
    kiosk.install(grants_action(make_grant(3)))
    await page.goto(f"{kiosk.url}/?lang=en")
    await sign_in(page, ALICE, pin="0000")
    alert = page.locator("#error[role=alert]")
    await expect(alert).to_have_text(
        "These details do not match a document waiting here. Please check them and try again."
    )
    await expect(page.locator("#pin")).to_have_value("")
    for _ in range(2):
        await page.click("#pin")
        for digit in "0000":
            await page.click(f".key[data-key='{digit}']")
        await page.click("#form-signin [type=submit]")
        await expect(page.locator("#form-signin [type=submit]")).to_be_enabled()
    # Now even the right PIN is refused, with the time to wait.
    await page.fill("#pin", ALICE.pin)
    await page.click("#form-signin [type=submit]")
    await expect(alert).to_have_text(
        "Too many wrong attempts. Please try again in 15 minutes or go to the service counter."
    )
    reasons = [e.reason for e in await kiosk.events(SignInFailed, count=4)]
    assert reasons == [SignInFailReason.WRONG_SECRET] * 3 + [SignInFailReason.LOCKED_OUT]
    assert not any(kiosk.sim.pulse_count(n) for n in range(1, 9))


async def test_a_jammed_compartment_sends_the_applicant_to_the_counter(kiosk: KioskApp, page: Page) -> None:
    kiosk.install(grants_action(make_grant(4)))
    kiosk.sim.jam(4)
    await page.goto(f"{kiosk.url}/?lang=en")
    await sign_in(page, ALICE)
    await expect(page.locator("#problem-text")).to_have_text(
        "Compartment 4 could not be opened. Please go to the service counter;"
        " staff will hand you your document.",
        timeout=15_000,
    )
    assert kiosk.sim.pulse_count(4) == 2


async def test_an_idle_screen_warns_then_returns_to_the_start_in_the_default_language(
    kiosk: KioskApp, page: Page
) -> None:
    await page.clock.install()
    await page.goto(f"{kiosk.url}/?lang=fr")
    await page.click("#btn-collect")
    await page.fill("#login", "0171")
    await page.clock.run_for((90 - 20) * 1000 + 500)
    await expect(page.locator("#idle")).to_be_visible()
    await expect(page.locator("#btn-continue")).to_be_focused()
    await page.click("#btn-continue")
    await expect(page.locator("#idle")).to_be_hidden()
    await expect(page.locator("#login")).to_have_value("0171")
    await page.clock.run_for(90 * 1000 + 500)
    await page.wait_for_url(f"{kiosk.url}/")
    await expect(page.locator("html")).to_have_attribute("lang", "de")
    await expect(page.locator("#screen-start")).to_be_visible()
