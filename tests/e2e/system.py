"""The whole system for end-to-end tests: the demo's composition on real Mosquitto and PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from docbox_demo.stack import Stack, StackOptions, running_stack

#: The handles end-to-end tests get (kept as a name of its own for readability).
System = Stack


@contextlib.asynccontextmanager
async def running_system(
    *,
    database_url: str,
    mqtt_url: str,
    data_dir: Path,
    box_id: str = "box-e2e",
    compartments: int = 8,
    **cloud_overrides: Any,
) -> AsyncIterator[Stack]:
    """Start cloud (uvicorn on a free port) and edge against the given broker and database.

    ``cloud_overrides`` are further CloudSettings fields (e.g. the pickup data key).
    """
    options = StackOptions(
        data_dir=data_dir,
        mqtt_url=mqtt_url,
        database_url=database_url,
        box_id=box_id,
        box_name="E2E box",
        compartments=compartments,
        command_timeout_s=10,
        cloud_client_id="cloud-e2e",
        cloud_overrides=cloud_overrides,
    )
    async with running_stack(options) as stack:
        yield stack
