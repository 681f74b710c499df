"""The edge agent over TLS: a real Mosquitto with the configuration ``docbox provision`` writes,
the agent with its bundle's files, and the settings that refuse what cannot work."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from docbox_edge.agent import BrokerUrl, EdgeAgent, EdgeSettings, parse_broker, parse_broker_url
from docbox_edge.boxconfig import BoxConfig
from docbox_edge.errors import SettingsError
from docbox_protocol.codec import encode
from docbox_protocol.messages import (
    BoxState,
    BoxStatus,
    CommandOutcome,
    CommandReply,
    DoorClosed,
)
from docbox_protocol.tls import TlsFiles
from docbox_protocol.topics import Channel
from tests.edge.conftest import BOX_ID, Keys, Rig
from tests.edge.mqtt_helpers import Listener, RunningAgent, box_topic, wait_for_flag
from tests.provisioning.helpers import PkiFolder, cloud_client, make_pki
from tests.support.fixtures import MosquittoFactory
from tests.support.mqtt import MqttTestClient
from tests.support.services import MosquittoServer

# --------------------------------------------------------------------------- URL and settings


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtts://broker.example", BrokerUrl("broker.example", 8883, tls=True)),
        ("mqtts://broker.example:9883", BrokerUrl("broker.example", 9883, tls=True)),
        ("mqtt://broker.example", BrokerUrl("broker.example", 1883, tls=False)),
        ("tcp://[::1]:1884", BrokerUrl("::1", 1884, tls=False)),
    ],
)
def test_broker_urls_tell_tls_apart(url: str, expected: BrokerUrl) -> None:
    assert parse_broker(url) == expected
    assert parse_broker_url(url) == (expected.host, expected.port)


@pytest.mark.parametrize("url", ["mqtts://:8883", "mqtts://h:x", "ssl://h:8883", "https://h"])
def test_bad_tls_broker_urls_are_refused(url: str) -> None:
    with pytest.raises(SettingsError, match="broker URL"):
        parse_broker(url)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PkiFolder:
    """A PKI with a bundle for the test box (and the broker's configuration)."""
    return make_pki(tmp_path_factory.mktemp("pki") / "pki", boxes=(BOX_ID, "box-other"))


@pytest.fixture(scope="module")
def foreign_pki(tmp_path_factory: pytest.TempPathFactory) -> PkiFolder:
    """Another CA, with a certificate for the same box id (not trusted by our broker)."""
    return make_pki(tmp_path_factory.mktemp("foreign") / "pki", boxes=(BOX_ID,))


def settings(
    box_config: BoxConfig,
    keys: Keys,
    data_dir: Path,
    broker: str,
    *,
    tls_files: TlsFiles | None = None,
    bundle: Path | None = None,
) -> EdgeSettings:
    key = data_dir / "command-key.pem"
    key.write_text(keys.trusted_pem)
    return EdgeSettings.from_files(
        config=box_config,
        broker=broker,
        data_dir=data_dir,
        public_keys=[key],
        tls_files=tls_files,
        bundle=bundle,
        unlock_confirm_s=2.0,
        telemetry_interval_s=0,
        reconnect_min_s=0.05,
        reconnect_max_s=0.5,
        kiosk_enabled=False,
    )


def test_mqtts_without_files_is_refused(box_config: BoxConfig, keys: Keys, data_dir: Path) -> None:
    with pytest.raises(SettingsError, match="mqtts:// broker needs --mqtt-ca-file, --mqtt-cert-file"):
        settings(box_config, keys, data_dir, "mqtts://127.0.0.1")


def test_tls_files_with_a_plain_url_are_refused(
    box_config: BoxConfig, keys: Keys, data_dir: Path, pki: PkiFolder
) -> None:
    files = TlsFiles.in_bundle(pki.bundle(BOX_ID))
    with pytest.raises(SettingsError, match="broker URL is mqtt://; use mqtts://"):
        settings(box_config, keys, data_dir, "mqtt://127.0.0.1", tls_files=files)


def test_missing_tls_file_is_a_settings_error_naming_it(
    box_config: BoxConfig, keys: Keys, data_dir: Path, pki: PkiFolder, rig: Rig
) -> None:
    bundle = TlsFiles.in_bundle(pki.bundle(BOX_ID))
    missing = data_dir / "nowhere" / "ca.crt"
    tls = settings(
        box_config,
        keys,
        data_dir,
        f"mqtts://127.0.0.1:{pki.port}",
        tls_files=TlsFiles(missing, bundle.cert_file, bundle.key_file),
    )
    with pytest.raises(SettingsError, match=f"cannot load CA certificate {missing}"):
        EdgeAgent(tls, rig.hardware)
    # Refused before the store was created.
    assert not any(data_dir.glob("*.db"))


def test_a_ca_file_that_is_no_certificate_is_a_settings_error(
    box_config: BoxConfig, keys: Keys, data_dir: Path, pki: PkiFolder, rig: Rig
) -> None:
    bundle = TlsFiles.in_bundle(pki.bundle(BOX_ID))
    # The private key where the CA certificate belongs: a plausible copy-paste mistake.
    tls = settings(
        box_config,
        keys,
        data_dir,
        f"mqtts://127.0.0.1:{pki.port}",
        tls_files=TlsFiles(bundle.key_file, bundle.cert_file, bundle.key_file),
    )
    with pytest.raises(SettingsError, match="cannot load CA certificate"):
        tls.tls_context()


def test_a_bundle_of_another_box_is_refused(
    box_config: BoxConfig, keys: Keys, data_dir: Path, pki: PkiFolder
) -> None:
    with pytest.raises(SettingsError, match="is for box 'box-other', but the configuration is box"):
        settings(box_config, keys, data_dir, "mqtts://127.0.0.1", bundle=pki.bundle("box-other"))
    with pytest.raises(SettingsError, match="either --bundle or the --mqtt-\\*-file options"):
        settings(
            box_config,
            keys,
            data_dir,
            "mqtts://127.0.0.1",
            bundle=pki.bundle(BOX_ID),
            tls_files=TlsFiles.in_bundle(pki.bundle(BOX_ID)),
        )


def test_a_bundle_gives_its_tls_files(
    box_config: BoxConfig, keys: Keys, data_dir: Path, pki: PkiFolder
) -> None:
    bundle = pki.bundle(BOX_ID)
    assert json.loads((bundle / "bundle.json").read_text())["box_id"] == BOX_ID

    tls = settings(box_config, keys, data_dir, f"mqtts://127.0.0.1:{pki.port}", bundle=bundle)

    assert (tls.broker_tls, tls.broker_port) == (True, pki.port)
    assert TlsFiles(tls.mqtt_ca_file, tls.mqtt_cert_file, tls.mqtt_key_file) == TlsFiles.in_bundle(bundle)  # type: ignore[arg-type]
    assert tls.tls_context() is not None


# --------------------------------------------------------------------------- against the broker


@pytest.fixture
def tls_broker(mosquitto_factory: MosquittoFactory, pki: PkiFolder) -> MosquittoServer:
    """Mosquitto with the PKI's generated docbox.conf only (a TLS listener, no plain one)."""
    return mosquitto_factory(
        port=pki.port, default_listener=False, extra_config=[f"include_dir {pki.layout.broker}"]
    )


@pytest.fixture
def cloud(tls_broker: MosquittoServer, pki: PkiFolder) -> Iterator[MqttTestClient]:
    """The cloud side, with the cloud identity's certificate."""
    with cloud_client(pki) as client:
        yield client


@pytest.fixture
async def running(rig: Rig) -> AsyncIterator[list[RunningAgent]]:
    agents: list[RunningAgent] = []
    yield agents
    for agent in agents:
        await agent.stop()


@pytest.mark.integration
async def test_agent_with_its_bundle_talks_to_the_cloud_over_tls(
    box_config: BoxConfig,
    keys: Keys,
    data_dir: Path,
    pki: PkiFolder,
    rig: Rig,
    cloud: MqttTestClient,
    running: list[RunningAgent],
) -> None:
    for channel in (Channel.STATUS, Channel.EVENTS, Channel.REPLIES, Channel.TELEMETRY):
        cloud.subscribe(box_topic(channel), qos=1)
    listener = Listener(cloud)
    tls = settings(box_config, keys, data_dir, f"mqtts://127.0.0.1:{pki.port}", bundle=pki.bundle(BOX_ID))
    agent = RunningAgent(EdgeAgent(tls, rig.hardware))
    running.append(agent)

    await agent.start()

    birth = await listener.expect(BoxStatus, Channel.STATUS)
    assert (birth.state, birth.box_id) == (BoxState.ONLINE, BOX_ID)
    rig.sim.auto_person(open_after_s=0.02, shut_after_s=0.1)
    await asyncio.to_thread(cloud.publish, box_topic(Channel.COMMANDS), encode(keys.unlock(2)), 1)
    reply = await listener.expect(CommandReply, Channel.REPLIES)
    assert reply.outcome is CommandOutcome.OPENED
    events = await listener.events_until(
        lambda got: any(isinstance(e.data, DoorClosed) for e in got.values())
    )
    assert [e.data.kind for e in events] == ["lock_pulsed", "door_opened", "command_result", "door_closed"]
    assert rig.sim.pulse_count(2) == 1
    await wait_for_flag(agent.agent.outbox.acked, lambda: agent.agent.outbox.depth() == 0)
    sock = agent.agent.link._client._client.socket()  # type: ignore[union-attr]
    assert sock.version() in ("TLSv1.2", "TLSv1.3")  # type: ignore[union-attr]


class _Records(logging.Handler):
    """Collects the link's warnings and wakes a waiter on each one."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self.arrived = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        self.arrived.set()


@pytest.mark.integration
async def test_a_broker_not_signed_by_the_trusted_ca_is_never_connected(
    box_config: BoxConfig,
    keys: Keys,
    data_dir: Path,
    pki: PkiFolder,
    foreign_pki: PkiFolder,
    rig: Rig,
    tls_broker: MosquittoServer,
    running: list[RunningAgent],
) -> None:
    # The foreign bundle trusts only the foreign CA: our broker's certificate must fail.
    tls = settings(
        box_config, keys, data_dir, f"mqtts://127.0.0.1:{pki.port}", bundle=foreign_pki.bundle(BOX_ID)
    )
    agent = RunningAgent(EdgeAgent(tls, rig.hardware))
    running.append(agent)
    records = _Records()
    link_log = logging.getLogger("docbox_edge.link")
    link_log.addHandler(records)
    try:
        await agent.start(wait_connected=False)
        await wait_for_flag(records.arrived, lambda: any("retrying" in m for m in records.messages))
    finally:
        link_log.removeHandler(records)
    assert "certificate verify failed" in " ".join(records.messages)
    assert agent.agent.link.connections == 0
    assert not agent.agent.connected.is_set()
