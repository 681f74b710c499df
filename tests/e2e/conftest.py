"""Fixtures of the end-to-end tests: the browser fixtures are shared with tests/browser."""

from tests.browser.conftest import browser, page

__all__ = ["browser", "page"]
