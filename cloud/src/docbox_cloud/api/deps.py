"""Dependencies of the API routes: settings, database session, MQTT bridge, authentication.

Authentication lives in :func:`require_token` alone, so that the role system planned for a
later issue replaces one function.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from docbox_cloud.bridge import MqttBridge
from docbox_cloud.db import transaction
from docbox_cloud.errors import AuthenticationError, BridgeUnavailableError
from docbox_cloud.settings import CloudSettings

_bearer = HTTPBearer(auto_error=False, description="The API token (DOCBOX_API_TOKEN)")


def get_settings(request: Request) -> CloudSettings:
    """The settings the app was created with."""
    settings: CloudSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[CloudSettings, Depends(get_settings)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session in a transaction that commits when the route returns (before the response)."""
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with transaction(sessions) as session:
        yield session


# scope="function": commit before the response is sent, so a failed commit is reported.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def get_bridge(request: Request) -> MqttBridge | None:
    """The MQTT bridge, or None when MQTT is not configured.

    It does not raise itself: a raising dependency would pre-empt the 422 for invalid path
    parameters. Routes call :func:`require_bridge`.
    """
    bridge: MqttBridge | None = request.app.state.bridge
    return bridge


BridgeDep = Annotated[MqttBridge | None, Depends(get_bridge)]


def require_bridge(bridge: MqttBridge | None) -> MqttBridge:
    """Return the bridge.

    Raises:
        BridgeUnavailableError: if MQTT is not configured (no ``mqtt_url``).
    """
    if bridge is None:
        raise BridgeUnavailableError("MQTT is not configured (DOCBOX_MQTT_URL is unset)")
    return bridge


async def require_token(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Accept the request only with ``Authorization: Bearer <api_token>``.

    Raises:
        AuthenticationError: if the header is missing or the token is wrong.
    """
    expected = settings.api_token.get_secret_value().encode()
    given = credentials.credentials.encode() if credentials is not None else b""
    # Constant time, so the token cannot be guessed byte by byte from response times.
    if not hmac.compare_digest(given, expected):
        raise AuthenticationError("missing or invalid bearer token")
