"""Fixtures of the browser tests: Debian's Chromium driven by Playwright, and axe-core.

Playwright's own browser download does not work here, so it drives ``/usr/bin/chromium``
(Debian package ``chromium``, in dev.sh's TEST_DEB_PACKAGES). axe-core is fetched once with
``npm pack`` into a cache folder (``DOCBOX_AXE_CACHE``, default ``~/.cache/docbox``) and
evaluated in the page through the DevTools protocol, which the pages' CSP does not block.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright

CHROMIUM = os.environ.get("DOCBOX_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
AXE_VERSION = "4.10.2"
AXE_CACHE = Path(os.environ.get("DOCBOX_AXE_CACHE", Path.home() / ".cache" / "docbox"))
#: WCAG 2.1 level A and AA rules.
WCAG21_AA = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """A headless Chromium for one test."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} not found: install the Debian package chromium (./dev.sh does)")
    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield instance
        finally:
            await instance.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A fresh page (own context: no cookies or storage shared between tests), 1280x800."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    try:
        yield await context.new_page()
    finally:
        await context.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    """The text of axe.min.js (downloaded once with npm into the cache)."""
    target = AXE_CACHE / f"axe-core-{AXE_VERSION}" / "axe.min.js"
    if not target.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm not found: needed once to fetch axe-core (Debian package npm)")
        with tempfile.TemporaryDirectory() as tmp:
            done = subprocess.run(
                [npm, "pack", f"axe-core@{AXE_VERSION}", "--pack-destination", tmp, "--silent"],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            if done.returncode != 0:
                pytest.fail(f"npm pack axe-core failed: {done.stderr[-2000:]}")
            (tarball,) = Path(tmp).glob("axe-core-*.tgz")
            with tarfile.open(tarball) as archive:
                member = archive.extractfile("package/axe.min.js")
                assert member is not None
                content = member.read()
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        partial.write_bytes(content)
        partial.replace(target)
    return target.read_text(encoding="utf-8")


async def axe_violations(page: Page, source: str, tags: Iterable[str] = WCAG21_AA) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is now; return its violations (empty when clean)."""
    if not await page.evaluate("() => typeof window.axe !== 'undefined'"):
        await page.evaluate(source)
    result: dict[str, Any] = await page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})", list(tags)
    )
    violations: list[dict[str, Any]] = result["violations"]
    return violations


def describe_violations(violations: list[dict[str, Any]]) -> str:
    """A readable summary for an assertion message."""
    lines = []
    for v in violations:
        targets = [", ".join(node["target"]) for node in v["nodes"][:5]]
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} at {targets}")
    return "\n".join(lines)
