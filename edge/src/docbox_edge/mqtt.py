"""aiomqtt, adjusted for an agent that must ride out broker restarts quietly and correctly.

Three things of aiomqtt 2.5 and paho 2 get in the way when a connection dies with publishes in flight:

- paho registers the socket for writing from a publish while the read side is finding
  the connection dead; aiomqtt schedules ``add_writer`` for the socket's descriptor with
  ``call_soon_threadsafe``, and by the time it runs the socket is closed: asyncio logs
  "Exception in callback … Bad file descriptor" at ERROR level. :class:`AgentMqttClient`
  checks the socket when the registration actually runs.
- paho logs "failed to receive on socket" and similar connection failures at ERROR. The
  link's reconnect loop reports them once, with context; :func:`paho_logger` passes paho's
  own messages on at INFO at most.
- paho does not close the TLS socket when the handshake fails (a broker certificate from
  another CA, say): every retry of the reconnect loop would leak a socket until the garbage
  collector finds it. :class:`AgentMqttClient` closes it.
"""

from __future__ import annotations

import logging
import socket
import ssl
from typing import Any, cast

import aiomqtt
import paho.mqtt.client as paho


class _QuietPahoLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Caps paho's log levels at INFO; aiomqtt's own ``exception()`` calls stay errors."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if level >= logging.ERROR and not kwargs.get("exc_info"):
            level = logging.INFO
        super().log(level, msg, *args, **kwargs)


def paho_logger(logger: logging.Logger) -> logging.Logger:
    """Wrap ``logger`` for aiomqtt/paho so that connection failures are not logged as errors."""
    # aiomqtt only calls log methods on it; an adapter offers the same ones.
    return cast("logging.Logger", _QuietPahoLogger(logger, {}))


class AgentMqttClient(aiomqtt.Client):
    """``aiomqtt.Client`` whose write registration tolerates a socket closed meanwhile, and
    whose failed TLS handshakes do not leak their socket."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Take the arguments of ``aiomqtt.Client``."""
        super().__init__(*args, **kwargs)
        context: ssl.SSLContext | None = kwargs.get("tls_context")
        if context is not None and context.check_hostname:
            # paho calls this from connect(); an instance attribute replaces its method.
            setattr(self._client, "_ssl_wrap_socket", _HandshakeClosingOnFailure(self._client, context))  # noqa: B010

    def _on_socket_register_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        def on_writable() -> None:
            # As aiomqtt's own callback: a failing write means the connection broke.
            try:
                client.loop_write()
            except Exception as exc:
                if not self._disconnected.done():
                    self._disconnected.set_exception(exc)

        def register() -> None:
            try:
                fileno = sock.fileno()
                if fileno >= 0:
                    self._loop.add_writer(fileno, on_writable)
            except (OSError, ValueError):
                pass  # closed between paho's request and now: nothing to write to

        # paho may call this from the executor thread that runs connect().
        self._loop.call_soon_threadsafe(register)

    def _on_socket_unregister_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        try:
            fileno = sock.fileno()
            if fileno >= 0:
                self._loop.remove_writer(fileno)
        except (OSError, ValueError):
            pass


class _HandshakeClosingOnFailure:
    """paho's ``_ssl_wrap_socket`` for a context that checks host names, closing on failure.

    paho's own version checks the host name again itself only when the context does not,
    so for such contexts it does exactly this, except for leaking the socket.
    """

    def __init__(self, client: paho.Client, context: ssl.SSLContext) -> None:
        self._client = client
        self._context = context

    def __call__(self, tcp_sock: socket.socket) -> ssl.SSLSocket:
        client = self._client
        try:
            ssl_sock = self._context.wrap_socket(
                tcp_sock, server_hostname=client.host, do_handshake_on_connect=False
            )
        except BaseException:
            tcp_sock.close()
            raise
        try:
            ssl_sock.settimeout(client.connect_timeout)
            ssl_sock.do_handshake()
        except BaseException:
            ssl_sock.close()
            raise
        return ssl_sock
