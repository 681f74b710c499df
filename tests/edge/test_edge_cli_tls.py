"""``docbox edge run`` as a real process configured by a provisioning bundle's ``edge.env``:
mqtts:// with the bundle's certificate, and ``--simulate`` on a box of every board kind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import typer
from pydantic import BaseModel
from typer.testing import CliRunner

from docbox_edge.commands import register
from docbox_protocol.codec import decode, encode
from docbox_protocol.messages import BoxState, BoxStatus, CommandOutcome, CommandReply, UnlockAction
from docbox_protocol.signing import (
    CommandSigner,
    generate_private_key,
    load_private_key,
    public_key_pem,
)
from docbox_protocol.topics import Channel, topic
from tests.provisioning.helpers import PkiFolder, cloud_client, make_pki
from tests.support.fixtures import MosquittoFactory
from tests.support.mqtt import MqttTestClient
from tests.support.services import MosquittoServer

REPO = Path(__file__).resolve().parents[2]
MIXED_CONFIG = REPO / "edge" / "examples" / "box-600-mixed.toml"
BOX = "mixed-600"  # the box id of MIXED_CONFIG
INSTALL_DIR = "/etc/docbox/edge"  # where edge.env expects the bundle (the provisioning default)
STARTUP_TIMEOUT = 30.0

M = TypeVar("M", bound=BaseModel)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PkiFolder:
    return make_pki(tmp_path_factory.mktemp("pki") / "pki", boxes=(BOX,))


def edge_env(pki: PkiFolder, extra_key: Path) -> dict[str, str]:
    """The bundle's edge.env as environment, its paths moved to where the bundle really is.

    ``extra_key`` is appended to the space-separated command keys (a key being rotated in).
    """
    bundle = pki.bundle(BOX)
    env: dict[str, str] = {}
    for line in (bundle / "edge.env").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            # Quoted: safe for sh (`. edge.env`) and for systemd's EnvironmentFile.
            assert value.startswith('"'), line
            assert value.endswith('"'), line
            env[name] = value[1:-1].replace(INSTALL_DIR, str(bundle))
    env["DOCBOX_COMMAND_KEYS"] += f" {extra_key}"
    return env


def signer(pki: PkiFolder) -> CommandSigner:
    """The cloud's active command signer of the PKI."""
    kid = json.loads((pki.bundle(BOX) / "bundle.json").read_text())["command_keys"][0]
    private = load_private_key(pki.layout.signing_private(kid).read_bytes())
    return CommandSigner(private, lifetime_s=30)


def docbox() -> list[str]:
    program = Path(sys.executable).with_name("docbox")
    if program.exists():
        return [str(program)]
    return [sys.executable, "-c", "from docbox_protocol.cli import main; main()"]


class AgentProcess:
    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def processes() -> Iterator[list[AgentProcess]]:
    started: list[AgentProcess] = []
    yield started
    for process in started:
        process.stop()


@pytest.fixture
def tls_broker(mosquitto_factory: MosquittoFactory, pki: PkiFolder) -> MosquittoServer:
    """Mosquitto with the PKI's generated docbox.conf only (a TLS listener, no plain one)."""
    return mosquitto_factory(
        port=pki.port, default_listener=False, extra_config=[f"include_dir {pki.layout.broker}"]
    )


def expect(client: MqttTestClient, channel: Channel, model: type[M], timeout: float = 10.0) -> M:
    """The next message on ``channel`` of the box (others are skipped)."""
    wanted = topic(BOX, channel)
    while True:
        message = client.expect_message(timeout)
        if message.topic == wanted:
            return decode(model, message.payload)


@pytest.mark.integration
def test_simulated_mixed_box_runs_from_its_bundle_over_tls(
    tls_broker: MosquittoServer, pki: PkiFolder, tmp_path: Path, processes: list[AgentProcess]
) -> None:
    other_key = tmp_path / "staged.pub"
    other_key.write_bytes(public_key_pem(generate_private_key().public_key()))
    env = {**os.environ, **edge_env(pki, other_key), "DOCBOX_EDGE_DATA": str(tmp_path / "edge-data")}
    env.pop("DOCBOX_BOX_CONFIG", None)
    args = [
        *docbox(),
        "edge",
        "run",
        "--simulate",
        "--config",
        str(MIXED_CONFIG),
        "--person-open-after",
        "0.05",
        # Long enough for the Kerong line's polling (12 controllers, 150 ms each) to see it.
        "--person-shut-after",
        "1.0",
        "--telemetry-interval",
        "0",
        "--kiosk-port",
        "0",
    ]
    log_path = tmp_path / "agent.log"
    commands = signer(pki)

    with cloud_client(pki) as cloud:
        cloud.subscribe(topic(BOX, Channel.STATUS), qos=1)
        cloud.subscribe(topic(BOX, Channel.REPLIES), qos=1)
        agent = AgentProcess(args, env, log_path)
        processes.append(agent)

        birth = expect(cloud, Channel.STATUS, BoxStatus, STARTUP_TIMEOUT)
        assert (birth.state, birth.compartments) == (BoxState.ONLINE, 600)

        # One compartment on each board kind: Kerong (1-576), MCP23017 (577-592), GPIO (593-600).
        for number in (3, 580, 600):
            command = commands.command(BOX, UnlockAction(compartment=number))
            cloud.publish(topic(BOX, Channel.COMMANDS), encode(commands.sign(command)), qos=1)
            reply = expect(cloud, Channel.REPLIES, CommandReply)
            assert (reply.command_id, reply.outcome) == (command.id, CommandOutcome.OPENED), agent.log()

        agent.process.send_signal(signal.SIGTERM)
        assert agent.process.wait(15) == 0, agent.log()
        goodbye = expect(cloud, Channel.STATUS, BoxStatus)
        assert goodbye.state is BoxState.OFFLINE
    assert "Traceback" not in agent.log(), agent.log()


def run_cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    root = typer.Typer()
    register(root)
    result = CliRunner().invoke(root, ["edge", "run", *args], env=env)
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        ("DOCBOX_MQTT_KEY_FILE", "TLS needs all three files; missing --mqtt-key-file"),
        ("DOCBOX_MQTT_CA_FILE", "TLS needs all three files; missing --mqtt-ca-file"),
    ],
)
def test_cli_refuses_an_incomplete_tls_setup(pki: PkiFolder, tmp_path: Path, drop: str, message: str) -> None:
    env = edge_env(pki, pki.layout.signing_public(signer_kid(pki)))
    env[drop] = ""
    code, output = run_cli(
        env, "--simulate", "--config", str(MIXED_CONFIG), "--data-dir", str(tmp_path / "d")
    )
    assert code == 2, output
    assert message in output


def test_cli_refuses_tls_files_with_a_plain_url(pki: PkiFolder, tmp_path: Path) -> None:
    env = edge_env(pki, pki.layout.signing_public(signer_kid(pki)))
    env["DOCBOX_BROKER"] = f"mqtt://127.0.0.1:{pki.port}"
    code, output = run_cli(
        env, "--simulate", "--config", str(MIXED_CONFIG), "--data-dir", str(tmp_path / "d")
    )
    assert code == 2, output
    assert "broker URL is mqtt://; use mqtts://" in output
    assert not (tmp_path / "d").exists()


def signer_kid(pki: PkiFolder) -> str:
    kid: str = json.loads((pki.bundle(BOX) / "bundle.json").read_text())["command_keys"][0]
    return kid


def test_cli_reports_a_ca_file_that_is_no_certificate(pki: PkiFolder, tmp_path: Path) -> None:
    env = edge_env(pki, pki.layout.signing_public(signer_kid(pki)))
    not_a_ca = tmp_path / "ca.crt"
    not_a_ca.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    env["DOCBOX_MQTT_CA_FILE"] = str(not_a_ca)
    code, output = run_cli(
        env, "--simulate", "--config", str(MIXED_CONFIG), "--data-dir", str(tmp_path / "d")
    )
    assert code == 2, output
    assert f"docbox edge: cannot load CA certificate {not_a_ca}" in output
