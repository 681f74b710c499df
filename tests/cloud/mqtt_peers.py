"""MQTT peers for the bridge tests: a plain publisher and a fake edge that answers commands."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress

import aiomqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from docbox_protocol import codec, topics
from docbox_protocol.messages import (
    Command,
    CommandOutcome,
    CommandReply,
    RejectReason,
    SignedCommand,
    utcnow,
)
from docbox_protocol.signing import CommandVerifier, check_window
from docbox_protocol.topics import Channel
from tests.support.services import MosquittoServer

NODELAY = (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

#: Decides the fake edge's answer to a verified command; None means stay silent.
Answer = Callable[[Command], CommandReply | None]


@asynccontextmanager
async def mqtt_peer(broker: MosquittoServer, identifier: str) -> AsyncIterator[aiomqtt.Client]:
    """A connected aiomqtt client (MQTT 3.1.1, clean session, TCP_NODELAY)."""
    async with aiomqtt.Client(
        broker.host, broker.port, identifier=identifier, socket_options=[NODELAY]
    ) as client:
        yield client


def answer_with(outcome: CommandOutcome, reason: RejectReason | None = None) -> Answer:
    """An answer policy replying ``outcome`` (and ``reason``) to every command."""

    def answer(command: Command) -> CommandReply:
        return CommandReply(
            command_id=command.id, box_id=command.box_id, at=utcnow(), outcome=outcome, reason=reason
        )

    return answer


class FakeEdge:
    """The MQTT side of one box: checks each command's signature and window, then answers.

    Args:
        client: A connected client.
        box_id: The box it plays.
        public_key: The cloud's public key (what a real box is provisioned with).
        answer: The reply policy for commands that verify.
    """

    def __init__(
        self, client: aiomqtt.Client, box_id: str, public_key: Ed25519PublicKey, answer: Answer
    ) -> None:
        self.client = client
        self.box_id = box_id
        self.verifier = CommandVerifier([public_key])
        self.answer = answer
        self.commands: list[Command] = []
        self.received = asyncio.Queue[Command]()

    async def subscribe(self) -> None:
        """Subscribe to the box's command topic (returns after the SUBACK)."""
        await self.client.subscribe(topics.topic(self.box_id, Channel.COMMANDS), qos=1)

    async def serve(self) -> None:
        """Answer commands until cancelled; a command that does not verify fails the task."""
        async for message in self.client.messages:
            assert isinstance(message.payload, bytes)
            command = self.verifier.verify(codec.decode(SignedCommand, message.payload))
            assert check_window(command, self.box_id, utcnow()) is None
            self.commands.append(command)
            await self.received.put(command)
            reply = self.answer(command)
            if reply is not None:
                reply_topic = topics.topic(self.box_id, Channel.REPLIES)
                await self.client.publish(reply_topic, codec.encode(reply), qos=1)


@asynccontextmanager
async def running_fake_edge(
    broker: MosquittoServer, box_id: str, public_key: Ed25519PublicKey, answer: Answer
) -> AsyncIterator[FakeEdge]:
    """A subscribed fake edge serving in a task for the duration of the block."""
    async with mqtt_peer(broker, f"fake-edge-{box_id}") as client:
        edge = FakeEdge(client, box_id, public_key, answer)
        await edge.subscribe()
        task = asyncio.create_task(edge.serve())
        try:
            yield edge
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
