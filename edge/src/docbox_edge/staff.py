"""Staff loading and retrieval at the kiosk: a request to the cloud, answered by a signed unlock.

The request goes straight over the broker link, not through the outbox: loading needs the
cloud (it assigns the compartment and checks the staff PIN), so without a connection the
kiosk says so at once instead of queueing. The cloud answers either with a signed ``unlock``
carrying the request id — executed by the executor like any command, which then tells this
class how it ended — or with a :class:`KioskAnswer` giving a reason.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from docbox_protocol.codec import decode
from docbox_protocol.errors import MessageError
from docbox_protocol.messages import (
    CommandOutcome,
    CommandReply,
    KioskAnswer,
    KioskRequest,
    LoadRequest,
    RetrieveRequest,
    utcnow,
)

log = logging.getLogger(__name__)


class LoadOutcome(StrEnum):
    """How a staff loading attempt ended."""

    OPENED = "opened"
    JAMMED = "jammed"
    REFUSED = "refused"
    FAILED = "failed"
    NEEDS_CONNECTION = "needs_connection"
    NO_ANSWER = "no_answer"


@dataclass(frozen=True, slots=True)
class LoadResult:
    """The result shown to staff.

    Attributes:
        outcome: What happened.
        compartment: The compartment that opened (or jammed).
        code: The cloud's machine-readable reason (``refused``) or the edge's (``failed``).
        message: The cloud's human-readable text, if any.
    """

    outcome: LoadOutcome
    compartment: int | None = None
    code: str | None = None
    message: str | None = None


#: Publishes one kiosk request (QoS 1); raises when not connected.
RequestPublisher = Callable[[KioskRequest], Awaitable[None]]


class StaffLoading:
    """Sends load requests and matches the cloud's answers to them."""

    def __init__(
        self,
        box_id: str,
        publish: RequestPublisher,
        is_online: Callable[[], bool],
        *,
        answer_timeout_s: float = 30.0,
    ) -> None:
        """Wire it.

        Args:
            box_id: this box.
            publish: sends a request over the broker link.
            is_online: whether the broker link is up.
            answer_timeout_s: how long to wait for the unlock or answer (it includes the
                time the door needs to open).
        """
        self._box_id = box_id
        self._publish = publish
        self._is_online = is_online
        self._timeout_s = answer_timeout_s
        self._waiting: dict[uuid.UUID, asyncio.Future[LoadResult]] = {}

    async def load(self, staff_id: str, staff_pin: str, document_code: str) -> LoadResult:
        """Ask the cloud to assign and open a compartment for ``document_code``.

        Raises:
            ValueError: ``staff_pin`` or the other fields are not well-formed.
        """
        return await self.request("load", staff_id, staff_pin, document_code)

    async def retrieve(self, staff_id: str, staff_pin: str, document_code: str | None) -> LoadResult:
        """Ask the cloud to open the compartment of ``document_code`` (or of the next document due
        for retrieval at this box) so staff can take it out.

        Raises:
            ValueError: ``staff_pin`` or the other fields are not well-formed.
        """
        return await self.request("retrieve", staff_id, staff_pin, document_code)

    async def request(
        self, kind: Literal["load", "retrieve"], staff_id: str, staff_pin: str, document_code: str | None
    ) -> LoadResult:
        """Send a ``load`` or ``retrieve`` request and wait for the unlock or the answer.

        Raises:
            ValueError: the fields are not well-formed (a load needs a document code).
        """
        body: LoadRequest | RetrieveRequest
        if kind == "load":
            if document_code is None:
                raise ValueError("loading needs a document code")
            body = LoadRequest(staff_id=staff_id, staff_pin=staff_pin, document_code=document_code)
        else:
            body = RetrieveRequest(staff_id=staff_id, staff_pin=staff_pin, document_code=document_code)
        if not self._is_online():
            return LoadResult(LoadOutcome.NEEDS_CONNECTION)
        request = KioskRequest(id=uuid.uuid4(), box_id=self._box_id, at=utcnow(), body=body)
        future: asyncio.Future[LoadResult] = asyncio.get_running_loop().create_future()
        self._waiting[request.id] = future
        try:
            try:
                await self._publish(request)
            except Exception as exc:
                log.info("load request not sent: %s", exc)
                return LoadResult(LoadOutcome.NEEDS_CONNECTION)
            try:
                async with asyncio.timeout(self._timeout_s):
                    return await future
            except TimeoutError:
                return LoadResult(LoadOutcome.NO_ANSWER)
        finally:
            self._waiting.pop(request.id, None)

    def on_answer(self, payload: bytes) -> None:
        """Take one message of the answers topic (malformed ones are logged and dropped)."""
        try:
            answer = decode(KioskAnswer, payload)
        except MessageError as exc:
            log.warning("malformed kiosk answer dropped: %s", exc)
            return
        if answer.box_id != self._box_id:
            log.warning("kiosk answer for box %s dropped", answer.box_id)
            return
        future = self._waiting.get(answer.request_id)
        if future is None or future.done():
            return
        if answer.ok:
            # A confirmation ahead of the signed unlock; the unlock settles the request.
            return
        future.set_result(LoadResult(LoadOutcome.REFUSED, answer.compartment, answer.code, answer.message))

    def on_unlock(self, request_id: uuid.UUID, compartment: int, reply: CommandReply) -> None:
        """Told by the executor how a verified unlock answering ``request_id`` ended."""
        future = self._waiting.get(request_id)
        if future is None or future.done():
            return
        if reply.outcome is CommandOutcome.OPENED:
            result = LoadResult(LoadOutcome.OPENED, compartment)
        elif reply.outcome is CommandOutcome.JAMMED:
            result = LoadResult(LoadOutcome.JAMMED, compartment)
        else:
            code = reply.reason.value if reply.reason is not None else None
            result = LoadResult(LoadOutcome.FAILED, compartment, code, reply.detail)
        future.set_result(result)
