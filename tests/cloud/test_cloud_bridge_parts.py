"""The bridge's small parts: reconnect backoff, reply futures, outcome mapping."""

from __future__ import annotations

import uuid

import pytest

from docbox_cloud.backoff import Backoff
from docbox_cloud.bridge import ensure_opened
from docbox_cloud.errors import CommandFailedError, CommandRejectedError
from docbox_cloud.replies import PendingReplies
from docbox_protocol.messages import CommandOutcome, CommandReply, RejectReason, utcnow


def reply(
    command_id: uuid.UUID, outcome: CommandOutcome, *, box_id: str = "box-1", **extra: object
) -> CommandReply:
    return CommandReply.model_validate(
        {"command_id": command_id, "box_id": box_id, "at": utcnow(), "outcome": outcome, **extra}
    )


def test_backoff_grows_to_its_cap_with_jitter_and_resets() -> None:
    backoff = Backoff(initial=1.0, maximum=8.0)

    delays = [backoff.next_delay() for _ in range(6)]
    backoff.reset()

    for delay, step in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert step / 2 <= delay <= step
    assert 0.5 <= backoff.next_delay() <= 1.0


def test_backoff_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="initial"):
        Backoff(initial=0)


async def test_pending_reply_resolves_only_for_the_named_box() -> None:
    pending = PendingReplies()
    command_id = uuid.uuid4()

    with pending.expect(command_id, "box-1") as future:
        assert not pending.resolve(reply(command_id, CommandOutcome.OPENED, box_id="box-2"))
        assert not pending.resolve(reply(uuid.uuid4(), CommandOutcome.OPENED))
        assert pending.resolve(reply(command_id, CommandOutcome.OPENED))
        assert (await future).box_id == "box-1"

    assert len(pending) == 0
    assert not pending.resolve(reply(command_id, CommandOutcome.OPENED)), "nobody waits any more"


def test_ensure_opened_maps_outcomes_to_errors() -> None:
    command_id = uuid.uuid4()

    assert ensure_opened(reply(command_id, CommandOutcome.OPENED)).command_id == command_id
    with pytest.raises(CommandRejectedError, match="door_already_open") as rejected:
        ensure_opened(reply(command_id, CommandOutcome.REJECTED, reason=RejectReason.DOOR_ALREADY_OPEN))
    assert (rejected.value.command_id, rejected.value.reason) == (command_id, "door_already_open")
    with pytest.raises(CommandFailedError, match="jammed"):
        ensure_opened(reply(command_id, CommandOutcome.JAMMED))
    with pytest.raises(CommandFailedError, match="unexpected outcome 'done'"):
        ensure_opened(reply(command_id, CommandOutcome.DONE))
