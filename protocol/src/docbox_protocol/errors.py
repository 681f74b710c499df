"""Exceptions of the docbox protocol: one root, one subclass per kind of failure."""


class ProtocolError(Exception):
    """Root of every error raised by docbox_protocol."""


class TopicError(ProtocolError):
    """A topic that is not part of the docbox topic map."""


class MessageError(ProtocolError):
    """A payload that cannot be decoded into the model its topic promises.

    The message text is a precise, log-safe reason (it never echoes the payload itself).
    """


class SignatureError(ProtocolError):
    """A signed command whose signature, key or encoding does not verify."""


class TlsError(ProtocolError):
    """TLS files (CA, certificate, private key) that cannot be loaded; the message names the file."""
