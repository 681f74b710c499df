"""Agent settings: broker URL, files, keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from docbox_edge.agent import EdgeSettings, parse_broker_url
from docbox_edge.boxconfig import generate_simulated_config
from docbox_edge.errors import SettingsError
from tests.edge.conftest import Keys


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://broker.example:8883", ("broker.example", 8883)),
        ("mqtt://127.0.0.1", ("127.0.0.1", 1883)),
        ("tcp://[::1]:1884", ("::1", 1884)),
    ],
)
def test_broker_url_is_parsed(url: str, expected: tuple[str, int]) -> None:
    assert parse_broker_url(url) == expected


@pytest.mark.parametrize("url", ["http://x:1883", "mqtt://:1883", "mqtt://host:notaport", "host:1883"])
def test_bad_broker_urls_are_refused(url: str) -> None:
    with pytest.raises(SettingsError):
        parse_broker_url(url)


def test_settings_from_files(tmp_path: Path, keys: Keys) -> None:
    config = tmp_path / "box.toml"
    config.write_text(generate_simulated_config("box-9", 3).to_toml())
    key = tmp_path / "key.pem"
    key.write_text(keys.trusted_pem)

    settings = EdgeSettings.from_files(
        config=config, broker="mqtt://b:1999", data_dir=tmp_path / "d", public_keys=[key], left_open_s=30
    )

    assert settings.box_id == "box-9"
    assert (settings.broker_host, settings.broker_port) == ("b", 1999)
    assert settings.left_open_s == 30
    assert settings.unlock_confirm_s == 8.0


def test_settings_refuse_a_key_that_is_not_ed25519(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n")
    with pytest.raises(SettingsError, match="public key"):
        EdgeSettings.from_files(
            config=generate_simulated_config("box-9", 3),
            broker="mqtt://b",
            data_dir=tmp_path,
            public_keys=[key],
        )


def test_settings_refuse_missing_files(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read"):
        EdgeSettings.from_files(
            config=tmp_path / "missing.toml", broker="mqtt://b", data_dir=tmp_path, public_keys=[]
        )
    with pytest.raises(SettingsError, match="at least 1"):
        EdgeSettings.from_files(
            config=generate_simulated_config("box-9", 3), broker="mqtt://b", data_dir=tmp_path, public_keys=[]
        )
