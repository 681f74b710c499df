"""Futures for commands awaiting the box's reply, keyed by command id."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from docbox_protocol.messages import CommandReply


class PendingReplies:
    """Command ids that a coroutine in this process waits on, with the box that must answer."""

    def __init__(self) -> None:
        self._waiting: dict[uuid.UUID, tuple[str, asyncio.Future[CommandReply]]] = {}

    @contextmanager
    def expect(self, command_id: uuid.UUID, box_id: str) -> Iterator[asyncio.Future[CommandReply]]:
        """Register interest in the reply to ``command_id`` for the duration of the block.

        Register before publishing the command: the reply may arrive before publish returns.
        """
        future: asyncio.Future[CommandReply] = asyncio.get_running_loop().create_future()
        self._waiting[command_id] = (box_id, future)
        try:
            yield future
        finally:
            del self._waiting[command_id]
            future.cancel()

    def resolve(self, reply: CommandReply) -> bool:
        """Hand ``reply`` to its waiter; return False if nobody here waits for it.

        A reply from another box than the command named is not accepted, so one box cannot
        answer for another.
        """
        if reply.command_id is None:
            return False
        waiter = self._waiting.get(reply.command_id)
        if waiter is None or waiter[0] != reply.box_id:
            return False
        future = waiter[1]
        if not future.done():
            future.set_result(reply)
        return True

    def __len__(self) -> int:
        return len(self._waiting)
