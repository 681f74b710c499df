"""docbox protocol: the contract between the edge agent and the cloud.

Topics (:mod:`.topics`), one message model per topic (:mod:`.messages`), encoding with
precise errors (:mod:`.codec`), Ed25519 command signing (:mod:`.signing`), and TLS client
contexts from provisioned files (:mod:`.tls`).
"""

from docbox_protocol.codec import decode, encode
from docbox_protocol.errors import MessageError, ProtocolError, SignatureError, TlsError, TopicError
from docbox_protocol.messages import SCHEMA_VERSION

__all__ = [
    "SCHEMA_VERSION",
    "MessageError",
    "ProtocolError",
    "SignatureError",
    "TlsError",
    "TopicError",
    "decode",
    "encode",
]
