"""Box registry and read access to boxes and compartments."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from docbox_cloud.errors import BoxExistsError, UnknownBoxError, UnknownCompartmentError
from docbox_cloud.models import Box, Compartment
from docbox_protocol.messages import utcnow


async def register_box(session: AsyncSession, box_id: str, name: str, *, now: datetime | None = None) -> Box:
    """Register a new box. Its compartments arrive with its first state snapshot.

    Raises:
        BoxExistsError: if ``box_id`` is already registered.
    """
    if await session.get(Box, box_id) is not None:
        raise BoxExistsError(box_id)
    box = Box(id=box_id, name=name, registered_at=now or utcnow(), online=False, max_seq=0)
    session.add(box)
    try:
        await session.flush()
    except IntegrityError as exc:
        # Registered concurrently between the check above and this INSERT (PostgreSQL).
        raise BoxExistsError(box_id) from exc
    return box


async def list_boxes(session: AsyncSession) -> Sequence[Box]:
    """Return every registered box, ordered by id."""
    return (await session.scalars(select(Box).order_by(Box.id))).all()


async def get_box(session: AsyncSession, box_id: str) -> Box:
    """Return one box.

    Raises:
        UnknownBoxError: if it is not registered.
    """
    box = await session.get(Box, box_id)
    if box is None:
        raise UnknownBoxError(box_id)
    return box


async def list_compartments(session: AsyncSession, box_id: str) -> Sequence[Compartment]:
    """Return a box's compartments ordered by number.

    Raises:
        UnknownBoxError: if the box is not registered.
    """
    await get_box(session, box_id)
    query = select(Compartment).where(Compartment.box_id == box_id).order_by(Compartment.number)
    return (await session.scalars(query)).all()


async def get_compartment(session: AsyncSession, box_id: str, number: int) -> Compartment:
    """Return one compartment.

    Raises:
        UnknownBoxError: if the box is not registered.
        UnknownCompartmentError: if the box never reported this compartment.
    """
    await get_box(session, box_id)
    query = select(Compartment).where(Compartment.box_id == box_id, Compartment.number == number)
    compartment = (await session.scalars(query)).one_or_none()
    if compartment is None:
        raise UnknownCompartmentError(box_id, number)
    return compartment
