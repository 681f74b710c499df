"""The booking page in headless Chromium: a booking end to end, RTL, hold warning, axe-core (WCAG 2.1 AA)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from docbox_cloud.appointments.i18n import LANGUAGES, RTL_LANGUAGES, translator
from tests.browser.booking_app import BookingSite, running_booking_site
from tests.browser.conftest import axe_violations, describe_violations
from tests.cloud.appointments.factories import NOW, OFFICE_ID, code_in

pytestmark = [pytest.mark.browser]


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[BookingSite]:
    async with running_booking_site(tmp_path) as running:
        yield running


async def assert_accessible(page: Page, axe_source: str, where: str) -> None:
    violations = await axe_violations(page, axe_source)
    assert violations == [], f"{where}:\n{describe_violations(violations)}"


async def test_browser_appt_book_confirm_and_cancel_end_to_end(
    site: BookingSite, page: Page, axe_source: str
) -> None:
    t = translator("en")
    await page.goto(f"{site.url}/booking")
    await assert_accessible(page, axe_source, "language choice")
    await page.click("main a[lang=en]")
    await expect(page).to_have_url(f"{site.url}/booking/en/{OFFICE_ID}")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator(".notice")).to_have_text(t("restricted_notice"))
    await assert_accessible(page, axe_source, "start page")

    await page.get_by_label(t("cat_permit_expiring")).check()
    await page.get_by_role("button", name=t("continue")).click()
    await expect(page.locator("h1")).to_have_text(t("slots_heading"))
    await assert_accessible(page, axe_source, "slot list")
    first_slot = page.locator("input[name=slot]").nth(3)
    slot_label = await page.locator(f"label[for='{await first_slot.get_attribute('id')}']").inner_text()
    await first_slot.check()
    await page.get_by_role("button", name=t("continue")).click()
    await expect(page.locator("h1")).to_have_text(t("details_heading"))

    # Submitting nothing: an error summary that takes focus and links to each field.
    await page.get_by_role("button", name=t("reserve_button")).click()
    summary = page.locator(".error-summary")
    await expect(summary).to_be_focused()
    await expect(summary.locator("a")).to_have_count(4)
    await expect(page.locator("#email")).to_have_attribute("aria-invalid", "true")
    await assert_accessible(page, axe_source, "details form with errors")

    await page.get_by_label(t("field_permit_expires_on")).fill((NOW + timedelta(days=5)).date().isoformat())
    await page.get_by_label(t("field_document_number")).fill("C01X00T47")
    await page.get_by_label(t("field_email")).fill("anna@example.org")
    for item in ("passport", "residence_permit"):
        await page.get_by_label(t(f"ev_{item}")).check()
    await expect(page.locator("form[data-altcha]")).to_have_attribute("data-pow-solved", "true")
    await page.get_by_role("button", name=t("reserve_button")).click()

    await expect(page.locator("h1")).to_have_text(t("hold_heading"))
    assert slot_label.split(" · ")[0] in await page.locator(".summary").inner_text()
    await expect(page.locator("#hold-timer")).to_have_text(re.compile(r"Time left: (9|10) min"))
    await expect(page.locator("#hold-warning")).to_be_hidden()
    await assert_accessible(page, axe_source, "hold page")

    code_message = await site.notifier.wait_for(lambda n: n.kind == "appointment.code")
    code = code_in(code_message.text)
    await page.get_by_label(t("field_code")).fill(code)
    await page.get_by_role("button", name=t("confirm_button")).click()
    await expect(page.locator("h1")).to_have_text(t("confirmed_heading"))
    await expect(page.locator("main")).to_contain_text(t("ev_residence_permit"))
    await assert_accessible(page, axe_source, "confirmation page")
    invitation = await site.notifier.wait_for(lambda n: n.kind == "appointment.confirmation")
    assert invitation.language == "en"

    await page.get_by_role("link", name=t("cancel_link_text")).click()
    await expect(page.locator("h1")).to_have_text(t("cancel_heading"))
    await assert_accessible(page, axe_source, "cancel page")
    await page.get_by_role("button", name=t("cancel_button")).click()
    await expect(page.locator("h1")).to_have_text(t("cancelled_heading"))
    await site.notifier.wait_for(lambda n: n.kind == "appointment.cancellation")


async def test_browser_appt_every_language_with_direction_and_axe(
    site: BookingSite, page: Page, axe_source: str
) -> None:
    for code in LANGUAGES:
        t = translator(code)
        await page.goto(f"{site.url}/booking/{code}/{OFFICE_ID}")
        html = page.locator("html")
        await expect(html).to_have_attribute("lang", code)
        await expect(html).to_have_attribute("dir", "rtl" if code in RTL_LANGUAGES else "ltr")
        await expect(page.locator("h1")).to_have_text(t("start_heading"))
        await expect(page.locator("legend")).to_contain_text(t("what_heading"))
        await assert_accessible(page, axe_source, f"start page ({code})")


async def test_browser_appt_arabic_booking_and_restricted_refusal(
    site: BookingSite, page: Page, axe_source: str
) -> None:
    t = translator("ar")
    await page.goto(f"{site.url}/booking/ar/{OFFICE_ID}")
    await page.get_by_label(t("cat_ordinary")).check()
    await page.get_by_role("button", name=t("continue")).click()
    await expect(page.locator("h1")).to_have_text(t("ordinary_refused_heading"))
    await expect(page.locator("main p").first).to_have_text(t("ordinary_refused_text"))
    await assert_accessible(page, axe_source, "restricted-mode refusal (ar)")

    await page.goto(f"{site.url}/booking/ar/{OFFICE_ID}")
    await page.get_by_label(t("cat_urgent_travel")).check()
    await page.get_by_role("button", name=t("continue")).click()
    await page.locator("input[name=slot]").nth(5).check()
    await page.get_by_role("button", name=t("continue")).click()
    await expect(page.locator("html")).to_have_attribute("dir", "rtl")
    # Inputs for Latin data stay left to right inside the right-to-left page.
    await expect(page.locator("#email")).to_have_attribute("dir", "ltr")
    await assert_accessible(page, axe_source, "details form (ar)")


async def test_browser_appt_hold_warns_and_extends(site: BookingSite, page: Page, axe_source: str) -> None:
    t = translator("de")
    await page.goto(f"{site.url}/booking/de/{OFFICE_ID}")
    await page.get_by_label(t("cat_document_lost")).check()
    await page.get_by_role("button", name=t("continue")).click()
    await page.locator("input[name=slot]").nth(8).check()
    await page.get_by_role("button", name=t("continue")).click()
    await page.get_by_label(t("field_lost_on")).fill((NOW - timedelta(days=2)).date().isoformat())
    await page.get_by_label(t("field_document_number")).fill("L0ST12345")
    await page.get_by_label(t("field_email")).fill("lost@example.org")
    for item in ("identity_document", "loss_report", "biometric_photo"):
        await page.get_by_label(t(f"ev_{item}")).check()
    await page.get_by_role("button", name=t("reserve_button")).click()
    await expect(page.locator("h1")).to_have_text(t("hold_heading"))

    # Nine of the ten minutes pass: the page warns and offers more time.
    site.clock.now = NOW + timedelta(minutes=9)
    await page.reload()
    warning = page.locator("#hold-warning")
    await expect(warning).to_be_visible()
    await expect(warning).to_contain_text(t("hold_warning"))
    await assert_accessible(page, axe_source, "hold warning")
    await warning.get_by_role("button", name=t("extend_button")).click()
    await expect(page.locator(".success")).to_have_text(t("extended"))
    await expect(page.locator("#hold-warning")).to_be_hidden()
    await expect(page.locator("#hold-timer")).to_have_text(re.compile(r"Verbleibende Zeit: [56] Min"))


async def test_browser_appt_non_qualifying_date_is_shown_at_its_field(
    site: BookingSite, page: Page, axe_source: str
) -> None:
    t = translator("tr")
    await page.goto(f"{site.url}/booking/tr/{OFFICE_ID}")
    await page.get_by_label(t("cat_urgent_travel")).check()
    await page.get_by_role("button", name=t("continue")).click()
    await page.locator("input[name=slot]").nth(2).check()
    await page.get_by_role("button", name=t("continue")).click()
    await page.get_by_label(t("field_travel_date")).fill((NOW + timedelta(days=60)).date().isoformat())
    await page.get_by_label(t("field_document_number")).fill("TR1234567")
    await page.get_by_label(t("field_email")).fill("ayse@example.org")
    for item in ("passport", "travel_booking", "travel_reason"):
        await page.get_by_label(t(f"ev_{item}")).check()
    await expect(page.locator("form[data-altcha]")).to_have_attribute("data-pow-solved", "true")
    await page.get_by_role("button", name=t("reserve_button")).click()
    summary = page.locator(".error-summary")
    await expect(summary).to_be_focused()
    await expect(summary.get_by_role("link", name=t("err_not_emergency"))).to_have_attribute(
        "href", "#travel_date"
    )
    await expect(page.locator("#travel_date")).to_have_attribute("aria-invalid", "true")
    await assert_accessible(page, axe_source, "refused date (tr)")
