"""Settings from the environment, MQTT URLs, and keeping secrets out of sight."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from docbox_cloud.db import create_engine
from docbox_cloud.errors import ConfigError
from docbox_cloud.mqtt_client import build_client
from docbox_cloud.settings import DEFAULT_DATABASE_URL, CloudSettings, parse_mqtt_url
from docbox_protocol.signing import private_key_pem


def test_settings_come_from_docbox_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCBOX_API_TOKEN", "from-env")
    monkeypatch.setenv("DOCBOX_COMMAND_TIMEOUT_S", "3.5")
    monkeypatch.setenv("DOCBOX_MQTT_PROTOCOL", "5")

    settings = CloudSettings()

    assert settings.api_token.get_secret_value() == "from-env"
    assert settings.command_timeout_s == 3.5
    assert settings.mqtt_protocol == "5"
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.mqtt_client_id.startswith("docbox-cloud-")
    assert (settings.command_lifetime_s, settings.share_group) == (10.0, "ingest")


def test_api_token_has_no_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCBOX_API_TOKEN", raising=False)

    with pytest.raises(ValidationError, match="api_token"):
        CloudSettings()


def test_mqtt_needs_a_signing_key() -> None:
    with pytest.raises(ValidationError, match="signing_key_pem or signing_key_file is required"):
        CloudSettings(api_token="t", mqtt_url="mqtt://127.0.0.1:1883")


def test_signing_key_from_a_file(tmp_path: Path, signing_key: Ed25519PrivateKey) -> None:
    key_file = tmp_path / "signing.key"
    key_file.write_bytes(private_key_pem(signing_key))

    settings = CloudSettings(api_token="t", mqtt_url="mqtt://h", signing_key_file=key_file)

    assert settings.signing_key_bytes() == private_key_pem(signing_key)
    with pytest.raises(ConfigError, match="cannot read signing key file"):
        settings.model_copy(update={"signing_key_file": tmp_path / "missing"}).signing_key_bytes()


def test_secrets_stay_out_of_reprs(signing_key: Ed25519PrivateKey) -> None:
    pem = private_key_pem(signing_key).decode()
    settings = CloudSettings(
        api_token="very-secret-token", signing_key_pem=pem, mqtt_url="mqtt://user:pa55word@broker"
    )

    shown = repr(settings) + str(settings) + repr(parse_mqtt_url(settings.mqtt_url or ""))

    assert "very-secret-token" not in shown
    assert "PRIVATE KEY" not in shown
    assert "pa55word" not in repr(parse_mqtt_url(settings.mqtt_url or ""))


@pytest.mark.parametrize(
    ("url", "host", "port", "tls", "user"),
    [
        ("mqtt://127.0.0.1:1883", "127.0.0.1", 1883, False, None),
        ("mqtt://broker", "broker", 1883, False, None),
        ("mqtts://broker.example", "broker.example", 8883, True, None),
        ("mqtt://cloud%40x:p%2Fw@broker:1884", "broker", 1884, False, "cloud@x"),
    ],
)
def test_parse_mqtt_url(url: str, host: str, port: int, tls: bool, user: str | None) -> None:
    endpoint = parse_mqtt_url(url)

    assert (endpoint.host, endpoint.port, endpoint.tls, endpoint.username) == (host, port, tls, user)


@pytest.mark.parametrize("url", ["http://broker", "mqtt://", "mqtt://broker:notaport", "broker:1883"])
def test_bad_mqtt_urls_are_rejected(url: str) -> None:
    with pytest.raises(ConfigError):
        parse_mqtt_url(url)
    with pytest.raises(ValidationError, match="mqtt_url"):
        CloudSettings(api_token="t", mqtt_url=url, signing_key_pem="x")


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_client_is_persistent_with_manual_acks(protocol: str) -> None:
    settings = CloudSettings(
        api_token="t", mqtt_url="mqtt://127.0.0.1:1", signing_key_pem="x", mqtt_protocol=protocol,
        mqtt_client_id="cloud-a",
    )

    client = build_client(settings)

    assert client.identifier == "cloud-a"
    paho = client._client
    assert paho._manual_ack is True
    if protocol == "5":
        # aiomqtt hands clean_start and the properties to paho's connect().
        assert client._clean_start is False
        assert client._properties is not None
        assert getattr(client._properties, "SessionExpiryInterval", None) == 86_400
    else:
        assert paho._clean_session is False


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("not a url with pa55word", "cannot parse"),
        ("mysql+aiomysql://u:pa55word@h/db", "unsupported database 'mysql'"),
        ("postgresql+psycopg2://u:pa55word@h/db", "driver 'psycopg2' is not async"),
    ],
)
def test_bad_database_urls_are_explained_without_the_password(url: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason) as caught:
        create_engine(url)
    assert "pa55word" not in str(caught.value)
