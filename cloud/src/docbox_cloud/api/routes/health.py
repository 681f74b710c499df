"""Liveness endpoint (no authentication)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from docbox_cloud.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
async def healthz(request: Request) -> Health:
    """Answers while the process serves requests; reports whether MQTT is connected."""
    bridge = request.app.state.bridge
    if bridge is None:
        return Health(mqtt="disabled")
    return Health(mqtt="connected" if bridge.connected.is_set() else "disconnected")
