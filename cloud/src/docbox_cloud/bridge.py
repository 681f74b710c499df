"""The MQTT bridge: ingests box messages into the database and sends signed commands.

One reconnect loop (:meth:`MqttBridge.run`) owns the connection. Each received message is
dispatched by topic, decoded, handled in its own database transaction and acknowledged only
after that transaction committed (see :mod:`docbox_cloud.mqtt_client`). A malformed message is
logged with the reason and skipped; a database failure ends the connection instead, so that
the broker redelivers what was not acknowledged once the bridge has reconnected.

Replies: every replica subscribes to the replies of all boxes with a plain (not shared)
subscription, so the replica whose :meth:`MqttBridge.open_compartment` waits for a reply
receives it, whichever replica published the command. Events, by contrast, use a shared
subscription under MQTT 5 so that each is ingested by one replica; under MQTT 3.1.1 every
replica ingests every event, which the idempotent store makes harmless.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import TypeVar

import aiomqtt
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from docbox_cloud import boxes, ingest
from docbox_cloud.backoff import Backoff
from docbox_cloud.db import transaction
from docbox_cloud.errors import (
    BridgeUnavailableError,
    CommandFailedError,
    CommandRejectedError,
    CommandTimeoutError,
    StorageError,
    UnknownBoxError,
)
from docbox_cloud.models import Command as CommandRow
from docbox_cloud.mqtt_client import ManualAckClient, build_client, describe_endpoint
from docbox_cloud.observers import IngestObserver, notify_observers
from docbox_cloud.replies import PendingReplies
from docbox_cloud.settings import CloudSettings
from docbox_cloud.stats import BridgeStats
from docbox_protocol import codec, topics
from docbox_protocol.errors import MessageError, TopicError
from docbox_protocol.messages import (
    BoxStatus,
    Command,
    CommandOutcome,
    CommandReply,
    Event,
    KioskAnswer,
    KioskRequest,
    SnapshotAction,
    StateSnapshot,
    Telemetry,
    UnlockAction,
)
from docbox_protocol.signing import CommandSigner, load_private_key
from docbox_protocol.topics import Channel

log = logging.getLogger(__name__)

#: What a handler returns: the box to ask for a snapshot once the message is acknowledged.
_FollowUp = str | None

_M = TypeVar("_M", Event, BoxStatus, StateSnapshot, CommandReply, Telemetry, KioskRequest)

#: Handles a kiosk request (docbox_cloud.pickup); must not wait for command replies.
RequestHandler = Callable[[KioskRequest], Awaitable[None]]


class MqttBridge:
    """Connects the cloud to the broker: ingest of box messages, commands to boxes.

    Args:
        settings: Cloud settings; ``mqtt_url`` must be set.
        sessions: Session factory of the cloud database.
        signer: Command signer; built from the settings' signing key when omitted.
        client_factory: Builds an unconnected client per connection attempt; tests may
            replace it. Defaults to :func:`docbox_cloud.mqtt_client.build_client`.
        backoff: Reconnect delays; capped exponential with jitter by default.
        observers: Told of every stored message (telemetry writer, alarm service); see
            :mod:`docbox_cloud.observers`.
        request_handler: Handles kiosk requests; when set, the bridge subscribes to the
            ``requests`` channel of every box.
    """

    def __init__(
        self,
        settings: CloudSettings,
        sessions: async_sessionmaker[AsyncSession],
        *,
        signer: CommandSigner | None = None,
        client_factory: Callable[[], ManualAckClient] | None = None,
        backoff: Backoff | None = None,
        observers: Sequence[IngestObserver] = (),
        request_handler: RequestHandler | None = None,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._signer = signer or CommandSigner(
            load_private_key(settings.signing_key_bytes()), lifetime_s=settings.command_lifetime_s
        )
        self._client_factory = client_factory or (lambda: build_client(settings))
        self._backoff = backoff or Backoff()
        self._snapshot_interval = timedelta(seconds=settings.snapshot_request_interval_s)
        self._pending = PendingReplies()
        self._client: ManualAckClient | None = None
        self._connected = asyncio.Event()
        self._storage_failing = False
        self._stats = BridgeStats()
        self._observers = tuple(observers)
        self._request_handler = request_handler

    # ------------------------------------------------------------------ public API

    @property
    def connected(self) -> asyncio.Event:
        """Set while the bridge is connected and its subscriptions are active."""
        return self._connected

    @property
    def stats(self) -> BridgeStats:
        """What the bridge did so far.

        Counts ``connected`` and ``disconnected`` (connections made and lost), ``stored``,
        ``duplicate``, ``snapshot``, ``status``, ``reply``, ``telemetry``, ``skipped`` (malformed or from an
        unregistered box), ``storage_failure`` and ``snapshot_request``.
        """
        return self._stats

    @property
    def signer(self) -> CommandSigner:
        """The signer of outgoing commands (its ``key_id`` names the public key boxes need)."""
        return self._signer

    def subscriptions(self) -> list[str]:
        """The topic filters the bridge subscribes to (all QoS 1)."""
        events = topics.wildcard(Channel.EVENTS)
        telemetry = topics.wildcard(Channel.TELEMETRY)
        if self._settings.mqtt_protocol == "5":
            events = topics.shared(self._settings.share_group, events)
            telemetry = topics.shared(self._settings.share_group, telemetry)
        filters = [
            events,
            topics.wildcard(Channel.STATUS),
            topics.wildcard(Channel.STATE),
            topics.wildcard(Channel.REPLIES),
            telemetry,
        ]
        if self._request_handler is not None:
            requests = topics.wildcard(Channel.REQUESTS)
            if self._settings.mqtt_protocol == "5":
                requests = topics.shared(self._settings.share_group, requests)
            filters.append(requests)
        return filters

    async def run(self) -> None:
        """Stay connected until cancelled: connect, subscribe, ingest; reconnect with backoff."""
        endpoint = describe_endpoint(self._settings)
        while True:
            try:
                async with self._client_factory() as client:
                    await self._subscribe(client)
                    self._client = client
                    self._connected.set()
                    # While the database fails, each reconnect fails again at once: keep
                    # backing off further (until a message is stored) instead of hammering.
                    if not self._storage_failing:
                        self._backoff.reset()
                    log.info("MQTT bridge connected to %s as %s", endpoint, self._settings.mqtt_client_id)
                    self._stats.add("connected")
                    await self._consume(client)
            except (aiomqtt.MqttError, BridgeUnavailableError) as exc:
                log.warning("MQTT connection to %s failed or lost: %s", endpoint, exc)
            except StorageError as exc:
                self._storage_failing = True
                self._stats.add("storage_failure")
                # No traceback: the cause is in the message, and this repeats while the DB is down.
                log.error(
                    "database failure while ingesting, reconnecting so that the broker redelivers "
                    "the unacknowledged message: %s",
                    exc,
                )
            finally:
                self._client = None
                if self._connected.is_set():
                    self._connected.clear()
                    self._stats.add("disconnected")
            await asyncio.sleep(self._backoff.next_delay())

    async def open_compartment(self, box_id: str, number: int) -> CommandReply:
        """Send a signed unlock command for one compartment and wait for the box's reply.

        Returns the reply whatever its outcome (see :func:`ensure_opened`).

        Raises:
            BridgeUnavailableError: if the bridge is not connected (checked first).
            UnknownBoxError: if the box is not registered.
            UnknownCompartmentError: if the box has not reported this compartment.
            CommandTimeoutError: if no reply came within ``command_timeout_s``.
            StorageError: if the command could not be recorded.
        """
        client = self._require_client()
        command = self._signer.command(box_id, UnlockAction(compartment=number))
        async with transaction(self._sessions) as session:
            await boxes.get_compartment(session, box_id, number)
            session.add(_command_row(command))
        with self._pending.expect(command.id, box_id) as reply:
            await self._publish_command(client, command)
            try:
                return await asyncio.wait_for(reply, self._settings.command_timeout_s)
            except TimeoutError:
                log.warning(
                    "box %s did not answer unlock command %s (compartment %d)", box_id, command.id, number
                )
                raise CommandTimeoutError(
                    f"box {box_id} did not confirm within {self._settings.command_timeout_s:g} s",
                    command.id,
                ) from None

    async def send_command(self, command: Command) -> None:
        """Record and publish a command built with :attr:`signer`; don't wait for the reply.

        Raises:
            BridgeUnavailableError: if the bridge is not connected.
            StorageError: if the command could not be recorded.
        """
        client = self._require_client()
        async with transaction(self._sessions) as session:
            session.add(_command_row(command))
        await self._publish_command(client, command)

    async def unlock_and_wait(self, command: Command) -> CommandReply:
        """Record and publish an unlock command built with :attr:`signer`; wait for the reply.

        Raises:
            BridgeUnavailableError, CommandTimeoutError, StorageError: as :meth:`open_compartment`.
        """
        client = self._require_client()
        async with transaction(self._sessions) as session:
            session.add(_command_row(command))
        with self._pending.expect(command.id, command.box_id) as reply:
            await self._publish_command(client, command)
            try:
                return await asyncio.wait_for(reply, self._settings.command_timeout_s)
            except TimeoutError:
                raise CommandTimeoutError(
                    f"box {command.box_id} did not confirm within {self._settings.command_timeout_s:g} s",
                    command.id,
                ) from None

    async def publish_answer(self, answer: KioskAnswer) -> None:
        """Publish a kiosk answer on the box's answers topic (QoS 1).

        Raises:
            BridgeUnavailableError: if the bridge is not connected or the publish failed.
        """
        client = self._require_client()
        try:
            await client.publish(topics.topic(answer.box_id, Channel.ANSWERS), codec.encode(answer), qos=1)
        except aiomqtt.MqttError as exc:
            raise BridgeUnavailableError(f"could not publish kiosk answer: {exc}") from exc

    async def request_snapshot(self, box_id: str) -> uuid.UUID:
        """Ask a box to publish a fresh state snapshot (the 'rebirth' request); don't wait.

        Raises:
            BridgeUnavailableError: if the bridge is not connected.
            StorageError: if the command could not be recorded.
        """
        client = self._require_client()
        command = self._signer.command(box_id, SnapshotAction())
        async with transaction(self._sessions) as session:
            session.add(_command_row(command))
        await self._publish_command(client, command)
        log.info("asked box %s for a state snapshot (command %s)", box_id, command.id)
        self._stats.add("snapshot_request")
        return command.id

    # ------------------------------------------------------------------ connection

    async def _subscribe(self, client: ManualAckClient) -> None:
        filters = self.subscriptions()
        codes = await client.subscribe([(f, 1) for f in filters])
        for topic_filter, code in zip(filters, codes, strict=True):
            if getattr(code, "is_failure", False) or code == 0x80:
                raise aiomqtt.MqttError(f"subscription to {topic_filter} refused: {code}")

    async def _consume(self, client: ManualAckClient) -> None:
        async for message in client.messages:
            follow_up = await self._handle(message)
            client.ack(message)
            if self._storage_failing:
                self._storage_failing = False
                self._backoff.reset()
            if follow_up is not None:
                await self.request_snapshot(follow_up)

    def _require_client(self) -> ManualAckClient:
        client = self._client
        if client is None or not self._connected.is_set():
            raise BridgeUnavailableError("not connected to the MQTT broker")
        return client

    # ------------------------------------------------------------------ dispatch

    async def _handle(self, message: aiomqtt.Message) -> _FollowUp:
        """Handle one message; log and skip a bad one. StorageError propagates (no ack)."""
        topic_name = message.topic.value
        try:
            box_id, channel = topics.parse(topic_name)
            payload = message.payload
            if not isinstance(payload, bytes | bytearray):
                raise MessageError(f"payload of type {type(payload).__name__}, expected bytes")
            match channel:
                case Channel.EVENTS:
                    return await self._on_event(_decode(Event, box_id, payload))
                case Channel.STATUS:
                    return await self._on_status(_decode(BoxStatus, box_id, payload))
                case Channel.STATE:
                    return await self._on_snapshot(_decode(StateSnapshot, box_id, payload))
                case Channel.REPLIES:
                    return await self._on_reply(_decode(CommandReply, box_id, payload))
                case Channel.TELEMETRY:
                    return await self._on_telemetry(_decode(Telemetry, box_id, payload))
                case Channel.REQUESTS if self._request_handler is not None:
                    await self._request_handler(_decode(KioskRequest, box_id, payload))
                    self._stats.add("request")
                case _:
                    log.debug("ignoring message on %s: channel not handled here", topic_name)
        except (TopicError, MessageError) as exc:
            log.warning("skipping message on %.120r: %s", topic_name, exc)
            self._stats.add("skipped")
        except UnknownBoxError as exc:
            log.warning("skipping message on %.120r: %s (register it first)", topic_name, exc)
            self._stats.add("skipped")
        except StorageError:
            raise
        except Exception:
            # A bug, not a bad message: skipping beats redelivering it forever.
            log.exception("skipping message on %.120r: unexpected error", topic_name)
            self._stats.add("skipped")
        return None

    async def _on_event(self, event: Event) -> _FollowUp:
        async with transaction(self._sessions) as session:
            result = await ingest.store_event(session, event, snapshot_interval=self._snapshot_interval)
        if not result.new:
            log.debug("duplicate event %s of box %s (seq %d) ignored", event.id, event.box_id, event.seq)
        elif result.gap:
            log.info("sequence gap at box %s: got seq %d", event.box_id, event.seq)
        self._stats.add("stored" if result.new else "duplicate")
        await notify_observers(self._observers, lambda o: o.event_stored(event, result), "event")
        return event.box_id if result.snapshot_due else None

    async def _on_status(self, status: BoxStatus) -> _FollowUp:
        async with transaction(self._sessions) as session:
            changed = await ingest.apply_status(session, status)
        self._stats.add("status")
        await notify_observers(self._observers, lambda o: o.status_applied(status, changed), "status")
        return None

    async def _on_snapshot(self, snapshot: StateSnapshot) -> _FollowUp:
        async with transaction(self._sessions) as session:
            result = await ingest.apply_snapshot(session, snapshot)
        log.debug("snapshot of box %s as of seq %d: %s", snapshot.box_id, snapshot.as_of_seq, result)
        self._stats.add("snapshot")
        await notify_observers(self._observers, lambda o: o.snapshot_applied(snapshot, result), "snapshot")
        return None

    async def _on_telemetry(self, telemetry: Telemetry) -> _FollowUp:
        self._stats.add("telemetry")
        await notify_observers(self._observers, lambda o: o.telemetry_received(telemetry), "telemetry")
        return None

    async def _on_reply(self, reply: CommandReply) -> _FollowUp:
        if reply.command_id is None:
            log.warning(
                "box %s could not parse a command: %s (%s)", reply.box_id, reply.reason, reply.detail
            )
            self._stats.add("skipped")
            return None
        async with transaction(self._sessions) as session:
            await ingest.record_reply(session, reply)
        self._pending.resolve(reply)
        self._stats.add("reply")
        return None

    # ------------------------------------------------------------------ sending

    async def _publish_command(self, client: ManualAckClient, command: Command) -> None:
        signed = self._signer.sign(command)
        try:
            await client.publish(
                topics.topic(command.box_id, Channel.COMMANDS), codec.encode(signed), qos=1
            )
        except aiomqtt.MqttError as exc:
            raise BridgeUnavailableError(f"could not publish command {command.id}: {exc}") from exc


def _command_row(command: Command) -> CommandRow:
    body = command.body
    return CommandRow(
        id=command.id,
        box_id=command.box_id,
        compartment=body.compartment if isinstance(body, UnlockAction) else None,
        action=body.action,
        issued_at=command.issued_at,
        expires_at=command.expires_at,
    )


def _decode(model: type[_M], box_id: str, payload: bytes | bytearray) -> _M:
    """Decode ``payload``; the box id inside must be the one in the topic (the ACL checks that)."""
    message = codec.decode(model, payload)
    if message.box_id != box_id:
        raise MessageError(f"box_id {message.box_id!r} in the payload does not match the topic")
    return message


def ensure_opened(reply: CommandReply) -> CommandReply:
    """Return an unlock reply that confirms the door opened; raise for any other outcome.

    Raises:
        CommandRejectedError: the box refused (nothing was energised); ``reason`` says why.
        CommandFailedError: the box pulsed the lock but the door sensor never saw it open
            (``jammed``), or the outcome makes no sense for an unlock.
    """
    assert reply.command_id is not None, "replies without a command id never reach a waiter"
    if reply.outcome is CommandOutcome.OPENED:
        return reply
    if reply.outcome is CommandOutcome.REJECTED:
        reason = reply.reason.value if reply.reason else None
        detail = f": {reply.detail}" if reply.detail else ""
        raise CommandRejectedError(
            f"box {reply.box_id} rejected the unlock ({reason}){detail}", reply.command_id, reason
        )
    if reply.outcome is CommandOutcome.JAMMED:
        raise CommandFailedError(
            f"box {reply.box_id} released the lock but the door did not open (jammed)",
            reply.command_id,
            reply.outcome.value,
        )
    raise CommandFailedError(
        f"box {reply.box_id} answered the unlock with unexpected outcome {reply.outcome.value!r}",
        reply.command_id,
        reply.outcome.value,
    )


__all__ = ["MqttBridge", "ensure_opened"]
