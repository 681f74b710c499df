"""Languages (incl. right to left) and accessibility of the kiosk, checked with axe-core."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from docbox_edge.kiosk.i18n import LANGUAGES, applicant_texts
from tests.browser.conftest import axe_violations, describe_violations
from tests.browser.kiosk_app import KioskApp, running_kiosk
from tests.edge.grant_helpers import ALICE, grants_action, make_grant
from tests.support.services import MosquittoServer

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture
async def kiosk(mosquitto: MosquittoServer, tmp_path: Path) -> AsyncIterator[KioskApp]:
    async with running_kiosk(mosquitto, tmp_path / "edge") as app:
        yield app


async def assert_accessible(page: Page, axe_source: str, where: str) -> None:
    violations = await axe_violations(page, axe_source)
    assert violations == [], f"{where}:\n{describe_violations(violations)}"


async def test_languages_are_switched_on_screen_with_lang_and_direction(kiosk: KioskApp, page: Page) -> None:
    await page.goto(kiosk.url)
    html = page.locator("html")
    await expect(html).to_have_attribute("lang", "de")
    await expect(html).to_have_attribute("dir", "ltr")
    for code, direction in (("ar", "rtl"), ("tr", "ltr"), ("fa", "rtl"), ("uk", "ltr"), ("en", "ltr")):
        await page.click(f"a.lang[lang={code}]")
        await expect(html).to_have_attribute("lang", code)
        await expect(html).to_have_attribute("dir", direction)
        await expect(page.locator("#h-start")).to_have_text(applicant_texts(code)["welcome"])
        await expect(page.locator(f"a.lang[lang={code}]")).to_have_attribute("aria-current", "true")
    # Right to left really lays the page out mirrored: the language list starts on the right.
    await page.click("a.lang[lang=ar]")
    first = await page.locator("a.lang").first.bounding_box()
    last = await page.locator("a.lang").nth(1).bounding_box()
    assert first is not None
    assert last is not None
    assert first["x"] > last["x"]


async def test_every_language_passes_axe_on_the_start_and_sign_in_screens(
    kiosk: KioskApp, page: Page, axe_source: str
) -> None:
    for lang in LANGUAGES:
        await page.goto(f"{kiosk.url}/?lang={lang.code}")
        await assert_accessible(page, axe_source, f"start screen, {lang.code}")
        await page.click("#btn-collect")
        await assert_accessible(page, axe_source, f"sign-in screen, {lang.code}")


async def test_error_documents_and_staff_screens_pass_axe(
    kiosk: KioskApp, page: Page, axe_source: str
) -> None:
    kiosk.install(grants_action(make_grant(1), make_grant(2)))
    await page.goto(f"{kiosk.url}/?lang=ar")
    await page.click("#btn-collect")
    await page.fill("#login", ALICE.login)
    await page.fill("#pin", "0000")
    await page.fill("#dob", "31.12.1990")
    await page.click("#form-signin [type=submit]")
    await expect(page.locator("#error")).not_to_be_empty()
    await assert_accessible(page, axe_source, "sign-in error, ar")
    await page.fill("#pin", ALICE.pin)
    await page.click("#form-signin [type=submit]")
    await expect(page.locator("#documents button")).to_have_count(2)
    await assert_accessible(page, axe_source, "documents, ar")
    await page.click("#screen-documents [data-action=home]")
    await page.click("#btn-staff")
    await expect(page.locator("#staff-id")).to_be_focused()
    await expect(page.locator("#screen-staff")).to_have_attribute("lang", "en")
    await assert_accessible(page, axe_source, "staff sign-in, ar page")
    await page.fill("#staff-id", "mueller")
    await page.fill("#staff-pin", "246810")
    await page.click("#form-staff [type=submit]")
    await expect(page.locator("#document-code")).to_be_focused()
    await assert_accessible(page, axe_source, "staff loading, ar page")


async def test_the_sign_in_form_is_usable_by_keyboard_in_a_sensible_order(
    kiosk: KioskApp, page: Page
) -> None:
    await page.goto(f"{kiosk.url}/?lang=en")
    await page.click("#btn-collect")
    await expect(page.locator("#login")).to_be_focused()
    order = []
    for _ in range(3):
        order.append(await page.evaluate("document.activeElement.id"))
        await page.keyboard.press("Tab")
    assert order == ["login", "pin", "dob"]
    # Every control has an accessible name and a touch target of at least 44 x 44 CSS px.
    for locator in (page.locator(".key"), page.locator("#screen-signin button")):
        for i in range(await locator.count()):
            box = await locator.nth(i).bounding_box()
            assert box is not None
            assert box["width"] >= 44
            assert box["height"] >= 44
    await expect(page.locator(".key[data-key=back]")).to_have_accessible_name("Delete last character")
    await expect(page.locator("#dob")).to_have_accessible_description("DD.MM.YYYY, e.g. 31.12.1990")


async def test_axe_does_report_violations(page: Page, axe_source: str) -> None:
    """The check above is not vacuous: a page with known faults fails it."""
    await page.set_content("<html><body><img src='x.png'><button></button></body></html>")
    ids = {v["id"] for v in await axe_violations(page, axe_source)}
    assert {"html-has-lang", "image-alt", "button-name"} <= ids
