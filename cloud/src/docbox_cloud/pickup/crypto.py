"""Encryption of the little personal data the pickup service must keep (contact, date of birth).

Fernet (AES-128-CBC + HMAC-SHA256, with a timestamp) under the key in ``pickup_data_key``. A
database dump alone therefore reveals no phone numbers, e-mail addresses or birth dates.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr

from docbox_cloud.errors import ConfigError
from docbox_cloud.pickup.errors import PersonalDataKeyMissingError


class DataCipher:
    """Encrypts and decrypts short strings with the configured Fernet key.

    Raises:
        ConfigError: if the key is not a valid Fernet key.
    """

    def __init__(self, key: SecretStr) -> None:
        try:
            self._fernet = Fernet(key.get_secret_value().encode())
        except ValueError:
            raise ConfigError("pickup_data_key must be a Fernet key (32 bytes, urlsafe base64)") from None

    def encrypt(self, text: str) -> bytes:
        """Return the ciphertext of ``text``."""
        return self._fernet.encrypt(text.encode())

    def decrypt(self, token: bytes) -> str:
        """Return the plaintext of ``token``.

        Raises:
            ConfigError: if the token was made with another key or was altered.
        """
        try:
            return self._fernet.decrypt(token).decode()
        except InvalidToken:
            raise ConfigError("personal data cannot be decrypted with pickup_data_key") from None


def cipher_or_none(key: SecretStr | None) -> DataCipher | None:
    """Build the cipher when a key is configured."""
    return DataCipher(key) if key is not None else None


def require_cipher(cipher: DataCipher | None) -> DataCipher:
    """Return the cipher or fail with a clear reason."""
    if cipher is None:
        raise PersonalDataKeyMissingError("DOCBOX_PICKUP_DATA_KEY is not set: personal data cannot be stored")
    return cipher
