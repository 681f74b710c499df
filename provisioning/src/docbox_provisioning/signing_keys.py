"""The cloud's command-signing key pair (Ed25519)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from docbox_protocol.signing import generate_private_key, key_id, private_key_pem, public_key_pem
from docbox_provisioning.files import write_public, write_secret

PRIVATE_NAME = "command-signing.key"
PUBLIC_NAME = "command-signing.pub"


@dataclass(frozen=True, slots=True)
class SigningKeyFiles:
    """Where a key pair was written, and the public key's id."""

    private: Path
    public: Path
    key_id: str


def create_signing_key(out_dir: Path, *, overwrite: bool = False) -> SigningKeyFiles:
    """Create a new key pair in ``out_dir``: the private key mode 0600, the public key 0644.

    Raises:
        FileExistsError: if a private key is already there and ``overwrite`` is false (a new key
            would lock every box out until their bundles carry the new public key).
    """
    private_path, public_path = out_dir / PRIVATE_NAME, out_dir / PUBLIC_NAME
    if private_path.exists() and not overwrite:
        raise FileExistsError(f"{private_path} exists; rotate keys instead of replacing them")
    key = generate_private_key()
    write_secret(private_path, private_key_pem(key))
    write_public(public_path, public_key_pem(key.public_key()))
    return SigningKeyFiles(private_path, public_path, key_id(key.public_key()))
