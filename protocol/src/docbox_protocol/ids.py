"""Identifier types shared by every message."""

from typing import Annotated

from pydantic import Field, StringConstraints

#: A box id is used verbatim as an MQTT topic level and a certificate CN: lowercase, no wildcards.
BoxId = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$"),
    Field(description="Box identifier: lowercase letters, digits and '-', 1-63 characters"),
]

#: Compartment numbers are 1-based, as printed on the doors.
CompartmentNo = Annotated[int, Field(ge=1, le=9999, description="Compartment number (1-based)")]

#: Sequence numbers count every event a box ever emitted, starting at 1.
Seq = Annotated[int, Field(ge=1, description="Per-box event sequence number, starting at 1")]

#: A session counter is incremented on each MQTT connection of the box (like Sparkplug's bdSeq).
Session = Annotated[int, Field(ge=0, description="Connection session counter of the box")]
