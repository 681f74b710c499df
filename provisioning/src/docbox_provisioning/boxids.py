"""Box ids from the command line, with ``{1..500}`` ranges expanded (also when quoted)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from docbox_protocol.errors import TopicError
from docbox_protocol.topics import Channel, topic
from docbox_provisioning.errors import ProvisioningError

_RANGE = re.compile(r"\{(\d+)\.\.(\d+)\}")
MAX_BATCH = 10_000


def expand_box_ids(arguments: Iterable[str]) -> list[str]:
    """Expand ``office-{001..500}`` style ranges, check every id, refuse duplicates.

    A range keeps the width of its first bound when that has leading zeros (``{001..010}``
    gives ``001`` … ``010``), like the shell's brace expansion. One range per argument.

    Raises:
        ProvisioningError: for an invalid box id, a duplicate, a reversed or huge range.
    """
    ids: list[str] = []
    for argument in arguments:
        ids.extend(_expand(argument))
        if len(ids) > MAX_BATCH:
            raise ProvisioningError(f"more than {MAX_BATCH} box ids in one command")
    seen: set[str] = set()
    for box_id in ids:
        check_box_id(box_id)
        if box_id in seen:
            raise ProvisioningError(f"box id {box_id!r} given twice")
        seen.add(box_id)
    return ids


def check_box_id(box_id: str) -> str:
    """Return ``box_id`` if it is valid in the topic map (and so as a certificate CN).

    Raises:
        ProvisioningError: if it is not.
    """
    try:
        topic(box_id, Channel.EVENTS)
    except TopicError:
        raise ProvisioningError(
            f"invalid box id {box_id!r}: use 1-63 lower-case letters, digits and '-', not starting with '-'"
        ) from None
    return box_id


def _expand(argument: str) -> list[str]:
    matches = list(_RANGE.finditer(argument))
    if not matches:
        return [argument]
    if len(matches) > 1:
        raise ProvisioningError(f"{argument!r}: only one {{A..B}} range per box id pattern")
    match = matches[0]
    first, last = match.group(1), match.group(2)
    start, end = int(first), int(last)
    if end < start:
        raise ProvisioningError(f"{argument!r}: the range runs backwards")
    if end - start >= MAX_BATCH:
        raise ProvisioningError(f"{argument!r}: more than {MAX_BATCH} box ids")
    width = len(first) if first.startswith("0") and len(first) > 1 else 0
    head, tail = argument[: match.start()], argument[match.end() :]
    return [f"{head}{n:0{width}d}{tail}" for n in range(start, end + 1)]
