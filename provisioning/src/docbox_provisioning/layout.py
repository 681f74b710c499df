"""Where ``docbox provision`` keeps what it makes: one folder per destination.

```
DIR/
  pki.json                 state: settings, every issued certificate, signing keys (no secrets)
  ca/                      stays here (ideally on an offline machine): ca.crt, ca.key, crl.pem
  broker/                  copy to the broker host: ca.crt, crl.pem, server.crt, server.key,
                           docbox.conf (Mosquitto), acl
  cloud/<name>/            copy to one cloud replica: ca.crt, client.crt, client.key,
                           command-signing.key, cloud.env
  signing/                 every command-signing key pair by key id: <kid>.key, <kid>.pub
  boxes/<box_id>/          the edge bundle of a box (see docbox_provisioning.bundles)
  boxes/<box_id>.tar.gz    the same as one archive (with --archive)
```

Folders holding private keys are mode 0700, private keys 0600.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

STATE_NAME = "pki.json"

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
CRL = "crl.pem"
SERVER_CERT = "server.crt"
SERVER_KEY = "server.key"
BROKER_CONF = "docbox.conf"
BROKER_ACL = "acl"
CLIENT_CERT = "client.crt"
CLIENT_KEY = "client.key"
SIGNING_KEY = "command-signing.key"
CLOUD_ENV = "cloud.env"


@dataclass(frozen=True, slots=True)
class Layout:
    """Paths inside a provisioning folder."""

    root: Path

    @property
    def state(self) -> Path:
        """The state file."""
        return self.root / STATE_NAME

    @property
    def lock(self) -> Path:
        """Lock file: one provisioning command at a time."""
        return self.root / ".lock"

    @property
    def ca(self) -> Path:
        """The CA's folder."""
        return self.root / "ca"

    @property
    def broker(self) -> Path:
        """What the broker host needs."""
        return self.root / "broker"

    @property
    def clouds(self) -> Path:
        """Parent of the cloud identities' folders."""
        return self.root / "cloud"

    def cloud(self, name: str) -> Path:
        """What cloud replica ``name`` needs."""
        return self.clouds / name

    @property
    def signing(self) -> Path:
        """Every command-signing key pair."""
        return self.root / "signing"

    def signing_private(self, kid: str) -> Path:
        """Private command-signing key ``kid``."""
        return self.signing / f"{kid}.key"

    def signing_public(self, kid: str) -> Path:
        """Public command-signing key ``kid``."""
        return self.signing / f"{kid}.pub"

    @property
    def boxes(self) -> Path:
        """Parent of the edge bundles."""
        return self.root / "boxes"

    def bundle(self, box_id: str) -> Path:
        """The edge bundle folder of ``box_id``."""
        return self.boxes / box_id

    def archive(self, box_id: str) -> Path:
        """The edge bundle of ``box_id`` as one archive."""
        return self.boxes / f"{box_id}.tar.gz"
