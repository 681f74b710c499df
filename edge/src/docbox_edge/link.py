"""The MQTT link: the one reconnect loop of the agent, and everything done per connection.

Per connection (MQTT 3.1.1, persistent session, client id = box id, TCP_NODELAY):

1. a new session number from the outbox; the last will (``offline``, retained) carries it;
2. subscribe to the box's command topic (QoS 1), so that commands sent by anyone who
   saw the birth are received;
3. birth: ``online`` status (retained) and a state snapshot (retained, ``as_of_seq``);
4. until the connection fails: drain the outbox (QoS 1, a window of publishes in flight,
   each row deleted on its PUBACK), receive commands, publish telemetry (QoS 0).

A failed connection is retried with capped exponential backoff and jitter. Commands run as
tasks of the link, not of the connection, so an unlock that waits for its door is not
abandoned when the broker goes away; its reply is then lost but its ``command_result``
event stays in the outbox.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

import aiomqtt

from docbox_edge.compartments import Compartments
from docbox_edge.mqtt import AgentMqttClient, paho_logger
from docbox_edge.outbox import Outbox
from docbox_protocol.codec import encode
from docbox_protocol.messages import (
    BoxState,
    BoxStatus,
    CommandReply,
    KioskRequest,
    StateSnapshot,
    Telemetry,
    utcnow,
)
from docbox_protocol.topics import Channel, topic

log = logging.getLogger(__name__)

CommandHandler = Callable[[bytes], Awaitable[CommandReply]]
AnswerHandler = Callable[[bytes], None]
TelemetrySource = Callable[[], Telemetry]


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """Connection parameters of the link.

    Attributes:
        host: Broker host name or address.
        port: Broker port.
        tls_context: TLS context of the connection (None: plain TCP); ``host`` must be a
            name in the broker's certificate. Handshake failures are OSErrors and are
            retried like any other connection failure.
        keepalive_s: MQTT keepalive; a dead connection is noticed after about 1.5 times this.
        publish_window: Event publishes in flight at once (awaiting PUBACK).
        publish_timeout_s: How long a PUBACK may take before the connection is dropped.
        reconnect_min_s: First retry delay after a failure.
        reconnect_max_s: Cap of the exponential backoff.
        telemetry_interval_s: Period of telemetry messages (0 disables them).
        agent_version: Reported in the birth message.
    """

    host: str
    port: int = 1883
    tls_context: ssl.SSLContext | None = None
    keepalive_s: int = 15
    publish_window: int = 128
    publish_timeout_s: float = 10.0
    reconnect_min_s: float = 0.2
    reconnect_max_s: float = 10.0
    telemetry_interval_s: float = 30.0
    agent_version: str | None = None


class Link:
    """Keeps the box connected to the broker and moves messages both ways."""

    def __init__(
        self,
        settings: LinkSettings,
        *,
        outbox: Outbox,
        compartments: Compartments,
        on_command: CommandHandler,
        telemetry: TelemetrySource,
        on_answer: AnswerHandler | None = None,
    ) -> None:
        """Wire the link.

        Args:
            settings: broker and timing parameters.
            outbox: the durable event queue to drain; its session counter is advanced
                on every connection.
            compartments: source of state snapshots.
            on_command: verifies and executes one command payload, returns the reply.
            telemetry: builds the current telemetry sample.
            on_answer: takes the cloud's kiosk answers (the answers topic is subscribed
                only if given).
        """
        self._settings = settings
        self._outbox = outbox
        self._compartments = compartments
        self._on_command = on_command
        self._telemetry = telemetry
        self._on_answer = on_answer
        box_id = outbox.box_id
        self._box_id = box_id
        self._topics = {channel: topic(box_id, channel) for channel in Channel}
        self._client: aiomqtt.Client | None = None
        self._command_tasks: set[asyncio.Task[None]] = set()
        self._acked: list[int] = []
        self._ack_flush_scheduled = False
        #: Set while connected and subscribed; cleared when the connection is lost.
        self.connected = asyncio.Event()
        #: The opposite of :attr:`connected` (set until the first connection and after each loss).
        self.disconnected = asyncio.Event()
        self.disconnected.set()
        #: Number of connections established so far (tests wait for a reconnect with it).
        self.connections = 0

    # ------------------------------------------------------------------ public

    async def run(self) -> None:
        """Stay connected until cancelled; on cancellation publish ``offline`` and disconnect."""
        s = self._settings
        delay = s.reconnect_min_s
        failures = 0
        last_reason: str | None = None
        try:
            while True:
                _reraise_swallowed_cancel()
                before = self.connections
                try:
                    await self._connection()
                    reason = "connection closed"
                except aiomqtt.MqttError as exc:
                    reason = _describe(exc)
                except ExceptionGroup as group:
                    reason = _describe(group)
                    if not group.subgroup(aiomqtt.MqttError):
                        log.error("broker link failed unexpectedly: %s", reason, exc_info=group)
                except OSError as exc:
                    reason = _describe(exc)
                except Exception as exc:
                    # A full disk, say: keep retrying rather than leave the box unreachable.
                    reason = _describe(exc)
                    log.error("broker link failed unexpectedly: %s", reason, exc_info=exc)
                if self.connections != before:
                    # The connection had been up: start the backoff afresh.
                    delay, failures, last_reason = s.reconnect_min_s, 0, None
                failures += 1
                wait = random.uniform(delay / 2, delay)
                if reason != last_reason:
                    # Each distinct failure once; a broker that stays down does not flood the log.
                    log.warning(
                        "broker %s:%d: %s; retrying in %.1f s (attempt %d)",
                        s.host,
                        s.port,
                        reason,
                        wait,
                        failures,
                    )
                    last_reason = reason
                else:
                    log.debug(
                        "broker %s:%d: %s; retrying in %.1f s (attempt %d)",
                        s.host,
                        s.port,
                        reason,
                        wait,
                        failures,
                    )
                await asyncio.sleep(wait)
                delay = min(delay * 2, s.reconnect_max_s)
        finally:
            tasks = list(self._command_tasks)
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    async def publish_snapshot(
        self, reason: Literal["birth", "requested", "periodic"], request_id: UUID | None = None
    ) -> None:
        """Publish a retained state snapshot now.

        Raises:
            aiomqtt.MqttError: if not connected or the broker did not acknowledge it.
        """
        client = self._client
        if client is None:
            raise aiomqtt.MqttError("not connected")
        snapshot = StateSnapshot(
            box_id=self._box_id,
            session=self._outbox.session,
            as_of_seq=self._outbox.last_seq(),
            at=utcnow(),
            reason=reason,
            request_id=request_id,
            compartments=self._compartments.snapshot(),
        )
        await client.publish(self._topics[Channel.STATE], encode(snapshot), qos=1, retain=True)

    async def publish_request(self, request: KioskRequest) -> None:
        """Publish a kiosk request (QoS 1, not via the outbox: it is only useful online).

        Raises:
            aiomqtt.MqttError: if not connected or the broker did not acknowledge it.
        """
        client = self._client
        if client is None or not self.connected.is_set():
            raise aiomqtt.MqttError("not connected")
        await client.publish(self._topics[Channel.REQUESTS], encode(request), qos=1)

    async def answer_snapshot_request(self, request_id: UUID) -> None:
        """Publish a snapshot for a snapshot command; a failure is logged (the cloud asks again)."""
        try:
            await self.publish_snapshot("requested", request_id)
        except aiomqtt.MqttError as exc:
            log.warning("requested snapshot not published: %s", _describe(exc))

    # ------------------------------------------------------------------ one connection

    async def _connection(self) -> None:
        s = self._settings
        session = self._outbox.next_session()
        status_topic = self._topics[Channel.STATUS]
        will = aiomqtt.Will(
            topic=status_topic,
            payload=encode(
                BoxStatus(box_id=self._box_id, state=BoxState.OFFLINE, session=session, at=utcnow())
            ),
            qos=1,
            retain=True,
        )
        client = AgentMqttClient(
            s.host,
            s.port,
            identifier=self._box_id,
            tls_context=s.tls_context,
            # A persistent session keeps our subscription (and commands sent meanwhile,
            # which expire anyway) across reconnects. MQTT 3.1.1: the demo broker has no 5.
            clean_session=False,
            protocol=aiomqtt.ProtocolVersion.V311,
            will=will,
            keepalive=s.keepalive_s,
            timeout=s.publish_timeout_s,
            max_inflight_messages=s.publish_window,
            # paho leaves Nagle on: it doubles every request/reply round trip (DESIGN.md).
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            logger=paho_logger(log.getChild("mqtt")),
        )
        # aiomqtt warns once more than this many calls await an ack; a full window is normal.
        client.pending_calls_threshold = s.publish_window + 32
        async with client:
            self._client = client
            try:
                await self._birth(client, session)
                _reraise_swallowed_cancel()
                self.connections += 1
                self.connected.set()
                self.disconnected.clear()
                log.info("connected to %s:%d as %s, session %d", s.host, s.port, self._box_id, session)
                await _first_failure(self._drain(client), self._receive(client), self._send_telemetry(client))
            except asyncio.CancelledError:
                # Shutdown, not a broken connection: say so before the clean DISCONNECT
                # (which suppresses the will).
                await self._goodbye(client, session)
                raise
            finally:
                self.connected.clear()
                self.disconnected.set()
                self._client = None
                self._flush_acks()

    async def _birth(self, client: aiomqtt.Client, session: int) -> None:
        birth = BoxStatus(
            box_id=self._box_id,
            state=BoxState.ONLINE,
            session=session,
            at=utcnow(),
            compartments=len(self._compartments.snapshot()),
            agent_version=self._settings.agent_version,
        )
        # Subscribe first: whoever sees "online" may send a command at once, and it must
        # not arrive before the subscription exists (on a first, session-less connect).
        await client.subscribe(self._topics[Channel.COMMANDS], qos=1)
        if self._on_answer is not None:
            await client.subscribe(self._topics[Channel.ANSWERS], qos=1)
        await client.publish(self._topics[Channel.STATUS], encode(birth), qos=1, retain=True)
        await self.publish_snapshot("birth")

    async def _goodbye(self, client: aiomqtt.Client, session: int) -> None:
        """Clean shutdown: replace the retained birth with ``offline`` before disconnecting."""
        offline = BoxStatus(box_id=self._box_id, state=BoxState.OFFLINE, session=session, at=utcnow())
        try:
            await client.publish(
                self._topics[Channel.STATUS], encode(offline), qos=1, retain=True, timeout=2.0
            )
        except aiomqtt.MqttError as exc:
            log.warning("offline status not published: %s", _describe(exc))

    # ------------------------------------------------------------------ outbox drain

    async def _drain(self, client: aiomqtt.Client) -> None:
        """Publish outbox events in sequence order, keeping a window of them awaiting PUBACK."""
        window = asyncio.Semaphore(self._settings.publish_window)
        events_topic = self._topics[Channel.EVENTS]
        after = 0  # every row with a smaller seq is published or in flight on this connection
        # A failed publish fails the group, which cancels this loop: the connection is then
        # torn down and everything not acknowledged is sent again on the next one.
        async with asyncio.TaskGroup() as group:
            while True:
                self._outbox.appended.clear()
                rows = self._outbox.pending(self._settings.publish_window, after=after)
                if not rows:
                    await self._outbox.appended.wait()
                    continue
                for seq, payload in rows:
                    await window.acquire()
                    # Tasks start in creation order and hand their message to paho before
                    # their first await, so the wire order is the sequence order.
                    group.create_task(self._publish_event(client, events_topic, seq, payload, window))
                    after = seq

    async def _publish_event(
        self, client: aiomqtt.Client, events_topic: str, seq: int, payload: bytes, window: asyncio.Semaphore
    ) -> None:
        try:
            await client.publish(events_topic, payload, qos=1)
        finally:
            window.release()
        self._acked.append(seq)
        if not self._ack_flush_scheduled:
            # Deleting acknowledged rows in batches: one fsync for all PUBACKs that
            # arrived in the same loop iteration instead of one each.
            self._ack_flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_acks)

    def _flush_acks(self) -> None:
        self._ack_flush_scheduled = False
        batch, self._acked = self._acked, []
        if not batch:
            return
        try:
            self._outbox.ack_many(batch)
        except Exception:
            # The rows stay and are sent again later: a duplicate, which the cloud drops.
            log.exception("cannot delete %d acknowledged events from the outbox", len(batch))

    # ------------------------------------------------------------------ commands

    async def _receive(self, client: aiomqtt.Client) -> None:
        commands_topic = self._topics[Channel.COMMANDS]
        answers_topic = self._topics[Channel.ANSWERS]
        async for message in client.messages:
            is_answer = message.topic.value == answers_topic and self._on_answer is not None
            if message.topic.value != commands_topic and not is_answer:
                log.warning("message on unexpected topic %s ignored", message.topic.value[:200])
                continue
            payload = message.payload
            if isinstance(payload, str):
                data = payload.encode()
            elif isinstance(payload, bytes | bytearray):
                data = bytes(payload)
            else:
                data = b"" if payload is None else str(payload).encode()
            if is_answer and self._on_answer is not None:
                try:
                    self._on_answer(data)
                except Exception:
                    log.exception("kiosk answer handler failed")
                continue
            task = asyncio.create_task(self._command(data), name="docbox-command")
            self._command_tasks.add(task)
            task.add_done_callback(self._command_tasks.discard)

    async def _command(self, payload: bytes) -> None:
        try:
            reply = await self._on_command(payload)
        except Exception:
            # The executor replies to everything a message can contain; this is a bug, but
            # one command must not take the link down.
            log.exception("command handler failed")
            return
        client = self._client
        if client is None:
            log.info("reply to %s not sent (offline); its result is in the outbox", reply.command_id)
            return
        try:
            await client.publish(self._topics[Channel.REPLIES], encode(reply), qos=1)
        except aiomqtt.MqttError as exc:
            log.info(
                "reply to %s not sent (%s); its result is in the outbox", reply.command_id, _describe(exc)
            )

    # ------------------------------------------------------------------ telemetry

    async def _send_telemetry(self, client: aiomqtt.Client) -> None:
        interval = self._settings.telemetry_interval_s
        if interval <= 0:
            await asyncio.Future()  # disabled: wait for cancellation
        telemetry_topic = self._topics[Channel.TELEMETRY]
        while True:
            await client.publish(telemetry_topic, encode(self._telemetry()), qos=0)
            _reraise_swallowed_cancel()
            await asyncio.sleep(interval)


async def _first_failure(*coros: Coroutine[Any, Any, None]) -> None:
    """Run ``coros`` together until one ends; cancel the rest and re-raise its exception."""
    tasks = [asyncio.create_task(c) for c in coros]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        # Wait for the cancelled ones, so none outlives the connection it belongs to.
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        exc = task.exception()
        if exc is not None:
            raise exc


def _reraise_swallowed_cancel() -> None:
    """Raise CancelledError if this task was cancelled but the cancellation got lost.

    aiomqtt waits with ``asyncio.wait_for``, which on Python 3.11 returns the result instead
    of raising when a cancellation arrives just as the operation completes (fixed in 3.12).
    A loop that then carries on would never stop; checking after such calls restores it.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _describe(exc: BaseException) -> str:
    """One-line reason for a connection failure (the innermost useful message)."""
    if isinstance(exc, BaseExceptionGroup):
        return _describe(exc.exceptions[0])
    text = str(exc) or type(exc).__name__
    cause = exc.__cause__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text}: {cause}"
    return text
