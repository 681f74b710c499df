"""A small client for InfluxDB's v1-compatible HTTP API: ``POST /write`` and ``/query``.

That API is served by InfluxDB 1.x, by 2.x (given a DBRP mapping from the database name to
a bucket) and by 3 Core, so one client covers them all; the v2-only client libraries cannot
write to 1.x. Outbound HTTP goes through an injectable httpx transport, so tests can put a
mock transport in its place.

Credentials: ``username`` + ``password`` go as HTTP Basic auth (1.x users; 2.x accepts any
user name with a token as password); a ``password`` without ``username`` is sent as
``Authorization: Token …`` (2.x and 3 Core tokens). Neither ever appears in a URL or a log.
"""

from __future__ import annotations

import gzip
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import SecretStr

from docbox_cloud.errors import CloudError

log = logging.getLogger(__name__)

#: Statuses after which the same request may succeed later (overload, outage, restart).
_RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class InfluxError(CloudError):
    """InfluxDB refused a request or could not be reached.

    Attributes:
        retryable: Whether sending the same request again later may succeed (network
            errors, 5xx, 429, and 401/403/404, which an operator can fix); False for data
            InfluxDB will never accept (400: unparsable line, field type conflict).
        status: The HTTP status, or None when no answer came.
    """

    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


@dataclass(frozen=True, slots=True)
class Series:
    """One series of a query result: measurement name, group-by tags, columns and rows."""

    name: str
    columns: list[str]
    values: list[list[Any]]
    tags: dict[str, str] = field(default_factory=dict)

    def records(self) -> list[dict[str, Any]]:
        """The rows as dictionaries keyed by column name."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.values]


class InfluxClient:
    """Writes line protocol to and queries one InfluxDB database over the v1 HTTP API.

    Args:
        url: Base URL, e.g. ``http://influxdb:8086``.
        database: Database (1.x) or DBRP-mapped database name (2.x, 3 Core).
        username: User for Basic auth; None with a password: token auth.
        password: Password or token; None: no authentication.
        retention_policy: Retention policy to write into; None: the database's default.
        timeout_s: Timeout of one request.
        gzip_level: Compression level of request bodies; 0 sends them uncompressed.
        transport: httpx transport (tests); the default opens real connections.
    """

    def __init__(
        self,
        url: str,
        database: str,
        *,
        username: str | None = None,
        password: SecretStr | None = None,
        retention_policy: str | None = None,
        timeout_s: float = 10.0,
        gzip_level: int = 5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not database:
            raise ValueError("database must not be empty")
        self.database = database
        self._retention_policy = retention_policy
        self._gzip_level = gzip_level
        headers = {"User-Agent": "docbox-cloud"}
        auth: httpx.Auth | None = None
        if password is not None and username is not None:
            auth = httpx.BasicAuth(username, password.get_secret_value())
        elif password is not None:
            headers["Authorization"] = f"Token {password.get_secret_value()}"
        self._http = httpx.AsyncClient(
            base_url=url.rstrip("/"), auth=auth, headers=headers, timeout=timeout_s, transport=transport
        )
        self._url = url

    @property
    def url(self) -> str:
        """The base URL (never carries credentials)."""
        return self._url

    async def write(self, body: bytes) -> None:
        """Write a line-protocol body (one point per line, nanosecond timestamps).

        Raises:
            InfluxError: if InfluxDB did not accept it; ``retryable`` tells whether to retry.
        """
        params = {"db": self.database, "precision": "ns"}
        if self._retention_policy:
            params["rp"] = self._retention_policy
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self._gzip_level:
            body = gzip.compress(body, compresslevel=self._gzip_level)
            headers["Content-Encoding"] = "gzip"
        response = await self._request("POST", "/write", params=params, content=body, headers=headers)
        if response.status_code != 204:
            raise _error("write", response)

    async def query(self, statement: str, *, epoch: str = "s", database: bool = True) -> list[Series]:
        """Run one InfluxQL statement and return the series of its (first) result.

        Args:
            statement: The InfluxQL statement.
            epoch: Precision of the returned timestamps (``ns``, ``ms``, ``s``, …).
            database: Whether to run it against :attr:`database` (False for e.g.
                ``CREATE DATABASE``).

        Raises:
            InfluxError: if the request failed or InfluxDB reported an error for the statement.
        """
        params = {"q": statement, "epoch": epoch}
        if database:
            params["db"] = self.database
        # POST: statements that change things (CREATE) are refused as GET.
        response = await self._request("POST", "/query", data=params)
        if response.status_code != 200:
            raise _error("query", response)
        try:
            payload = response.json()
            result = payload["results"][0]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise InfluxError(f"query: unexpected answer from InfluxDB: {exc}", retryable=False) from exc
        if "error" in result:
            raise InfluxError(f"query failed: {result['error']}", retryable=False, status=200)
        return [
            Series(
                name=series.get("name", ""),
                columns=list(series.get("columns", [])),
                values=list(series.get("values", [])),
                tags=dict(series.get("tags", {})),
            )
            for series in result.get("series", [])
        ]

    async def create_database(self) -> None:
        """Create :attr:`database` if it does not exist (1.x; needs admin rights when auth is on).

        Raises:
            InfluxError: if InfluxDB refused.
        """
        name = self.database.replace("\\", "\\\\").replace('"', '\\"')
        await self.query(f'CREATE DATABASE "{name}"', database=False)

    async def ping(self) -> bool:
        """Whether InfluxDB answers ``/ping``."""
        try:
            response = await self._request("GET", "/ping")
        except InfluxError:
            return False
        return response.status_code == 204

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise InfluxError(
                f"InfluxDB at {self._url} unreachable: {type(exc).__name__}: {exc}", retryable=True
            ) from exc


def _error(what: str, response: httpx.Response) -> InfluxError:
    status = response.status_code
    try:
        reason = str(response.json().get("error", ""))
    except ValueError:
        reason = response.text
    # 401/403/404 (credentials, missing database) need an operator, not a data change:
    # keep the data and retry rather than throw it away.
    retryable = status in _RETRYABLE_STATUSES or status in (401, 403, 404)
    return InfluxError(
        f"{what} refused by InfluxDB: HTTP {status}: {reason[:300]}", retryable=retryable, status=status
    )
