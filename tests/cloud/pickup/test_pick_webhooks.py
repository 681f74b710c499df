"""The case-system webhooks: outbox, HMAC signature, retries with backoff, a real HTTP receiver."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from docbox_cloud.api.server import EmbeddedServer
from docbox_cloud.db import transaction
from docbox_cloud.pickup import webhooks
from docbox_cloud.pickup.models import WebhookDelivery
from tests.cloud.pickup.conftest import NOW, PickupWorld

pytestmark = pytest.mark.integration

SECRET = b"webhook-secret-0123"
URL = "http://case-system.test/hook"


async def _deliver(
    sessions: async_sessionmaker[AsyncSession], client: httpx.AsyncClient, at: datetime
) -> int:
    return await webhooks.deliver_due(sessions, client, url=URL, secret=SECRET, now=at, max_attempts=3)


async def test_handover_steps_are_signed_retried_and_keep_their_idempotency_key(world: PickupWorld) -> None:
    await world.register()
    requests: list[httpx.Request] = []
    failing = True

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(503 if failing else 204)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        assert await _deliver(world.sessions, client, NOW) == 0
        assert await _deliver(world.sessions, client, NOW + timedelta(seconds=4)) == 0  # backing off
        failing = False
        assert await _deliver(world.sessions, client, NOW + timedelta(seconds=5)) == 1
        assert await _deliver(world.sessions, client, NOW + timedelta(hours=1)) == 0

    assert len(requests) == 2
    keys = {r.headers[webhooks.IDEMPOTENCY_HEADER] for r in requests}
    assert len(keys) == 1
    last = requests[-1]
    signed = {
        webhooks.TIMESTAMP_HEADER: last.headers[webhooks.TIMESTAMP_HEADER],
        webhooks.SIGNATURE_HEADER: last.headers[webhooks.SIGNATURE_HEADER],
    }
    sent_at = NOW + timedelta(seconds=5)
    assert webhooks.verify_signature(SECRET, signed, last.content, now=sent_at)
    assert not webhooks.verify_signature(b"other", signed, last.content, now=sent_at)
    assert not webhooks.verify_signature(SECRET, signed, last.content + b" ", now=sent_at)
    # The same request replayed an hour later is too old.
    assert not webhooks.verify_signature(SECRET, signed, last.content, now=NOW + timedelta(hours=1))
    body = json.loads(last.content)
    assert body["event"] == "registered"
    assert body["data"]["code"] == "DOC-1"
    assert "+49" not in last.content.decode()


async def test_a_webhook_is_given_up_after_max_attempts(world: PickupWorld) -> None:
    await world.register()
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(500))) as client:
        at = NOW
        for _ in range(3):
            await _deliver(world.sessions, client, at)
            at += timedelta(hours=2)
    async with transaction(world.sessions) as session:
        row = (await session.scalars(select(WebhookDelivery))).one()
    assert (row.failed, row.attempts, row.last_error) == (True, 3, "HTTP 500")


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, asyncio.Queue[tuple[dict[str, str], bytes]]]]:
    """A real HTTP receiver on a free loopback port, recording what it gets."""
    received: asyncio.Queue[tuple[dict[str, str], bytes]] = asyncio.Queue()

    async def hook(request: Request) -> Response:
        await received.put(({k.title(): v for k, v in request.headers.items()}, await request.body()))
        return Response(status_code=200)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = EmbeddedServer(Starlette(routes=[Route("/hook", hook, methods=["POST"])]))  # type: ignore[arg-type]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    async with asyncio.timeout(10):
        await server.ready.wait()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/hook", received
    server.should_exit = True
    await task
    sock.close()


async def test_delivery_over_a_real_socket(
    world: PickupWorld, receiver: tuple[str, asyncio.Queue[tuple[dict[str, str], bytes]]]
) -> None:
    url, received = receiver
    await world.register()
    async with httpx.AsyncClient() as client:
        delivered = await webhooks.deliver_due(
            world.sessions, client, url=url, secret=SECRET, now=NOW, max_attempts=3
        )
    assert delivered == 1
    async with asyncio.timeout(5):
        headers, body = await received.get()
    assert webhooks.verify_signature(SECRET, headers, body, now=NOW)
    assert json.loads(body)["event"] == "registered"
