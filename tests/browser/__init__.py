"""Browser tests: pages in real headless Chromium, accessibility checked with axe-core."""
