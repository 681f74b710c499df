"""The kiosk: the web UI of the box's touchscreen, served by the edge agent (aiohttp)."""
