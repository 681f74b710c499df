"""The live picture of a box for the staff console: one state per compartment."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from docbox_cloud import boxes
from docbox_cloud.pickup.models import PickupDefect, PickupDocument, PickupSlot
from docbox_cloud.pickup.schemas import GridCell


async def box_grid(session: AsyncSession, box_id: str) -> list[GridCell]:
    """Return every compartment of ``box_id`` with its pickup state.

    Precedence: defective, alarm, open, to_retrieve, loading, loaded, free.

    Raises:
        UnknownBoxError: if the box is not registered.
    """
    compartments = await boxes.list_compartments(session, box_id)
    defects = set(
        (await session.scalars(select(PickupDefect.number).where(PickupDefect.box_id == box_id))).all()
    )
    rows = await session.execute(
        select(PickupSlot.number, PickupDocument.id, PickupDocument.code, PickupDocument.status)
        .join(PickupDocument, PickupDocument.id == PickupSlot.document_id)
        .where(PickupSlot.box_id == box_id)
    )
    slots = {number: (doc_id, code, status) for number, doc_id, code, status in rows.all()}
    cells = []
    for c in compartments:
        slot = slots.get(c.number)
        if c.number in defects:
            state = "defective"
        elif c.alarms:
            state = "alarm"
        elif c.door == "open":
            state = "open"
        elif slot is None:
            state = "free"
        elif slot[2] in ("to_retrieve", "loading"):
            state = slot[2]
        else:
            state = "loaded"
        cells.append(
            GridCell(
                number=c.number,
                state=state,
                size=c.size,
                height_cm=c.height_cm,
                door=c.door,
                alarms=list(c.alarms),
                document_id=slot[0] if slot else None,
                document_code=slot[1] if slot else None,
            )
        )
    return cells
