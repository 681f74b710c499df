"""``docbox edge run`` as a real process: birth, unlock, kill -9 (last will), restart, replay."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from docbox_protocol.codec import decode, encode
from docbox_protocol.messages import (
    BoxState,
    BoxStatus,
    CommandOutcome,
    CommandReply,
    RejectReason,
    UnlockAction,
)
from docbox_protocol.signing import CommandSigner, generate_private_key, public_key_pem
from docbox_protocol.topics import Channel, topic
from tests.support.mqtt import MqttTestClient
from tests.support.services import MosquittoServer

pytestmark = pytest.mark.integration

BOX = "box-cli"
STARTUP_TIMEOUT = 30.0


def expect(
    client: MqttTestClient, channel: Channel, model: type[BaseModel], timeout: float = 10.0
) -> BaseModel:
    """The next message on ``channel`` (others are skipped)."""
    wanted = topic(BOX, channel)
    while True:
        message = client.expect_message(timeout)
        if message.topic == wanted:
            return decode(model, message.payload)


class AgentProcess:
    def __init__(self, args: list[str], log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env={**os.environ}
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def agent_args(mosquitto: MosquittoServer, tmp_path: Path) -> list[str]:
    key = tmp_path / "command-key.pub.pem"
    key.write_bytes(b"")  # replaced by the test's key
    docbox = Path(sys.executable).with_name("docbox")
    program = (
        [str(docbox)]
        if docbox.exists()
        else [sys.executable, "-c", "from docbox_protocol.cli import main; main()"]
    )
    return [
        *program,
        "edge",
        "run",
        "--simulate",
        "--box-id",
        BOX,
        "--compartments",
        "6",
        "--broker",
        mosquitto.url,
        "--data-dir",
        str(tmp_path / "edge-data"),
        "--public-key",
        str(key),
        "--person-open-after",
        "0.05",
        "--person-shut-after",
        "0.2",
        "--telemetry-interval",
        "0",
    ]


@pytest.fixture
def processes() -> Iterator[list[AgentProcess]]:
    started: list[AgentProcess] = []
    yield started
    for process in started:
        process.stop()


def test_kill_restart_and_replay(
    mosquitto: MosquittoServer, agent_args: list[str], tmp_path: Path, processes: list[AgentProcess]
) -> None:
    private = generate_private_key()
    Path(agent_args[agent_args.index("--public-key") + 1]).write_bytes(public_key_pem(private.public_key()))
    signer = CommandSigner(private, lifetime_s=30)
    log_path = tmp_path / "agent.log"

    with MqttTestClient(mosquitto.host, mosquitto.port) as cloud:
        cloud.subscribe(topic(BOX, Channel.STATUS))
        cloud.subscribe(topic(BOX, Channel.REPLIES))

        first = AgentProcess(agent_args, log_path)
        processes.append(first)
        birth = expect(cloud, Channel.STATUS, BoxStatus, STARTUP_TIMEOUT)
        assert isinstance(birth, BoxStatus), first.log()
        assert (birth.state, birth.session, birth.compartments) == (BoxState.ONLINE, 1, 6)

        signed = signer.sign(signer.command(BOX, UnlockAction(compartment=2)))
        cloud.publish(topic(BOX, Channel.COMMANDS), encode(signed))
        reply = expect(cloud, Channel.REPLIES, CommandReply)
        assert isinstance(reply, CommandReply)
        assert reply.outcome is CommandOutcome.OPENED, first.log()

        # kill -9: no clean shutdown, so the broker publishes the last will.
        first.process.kill()
        first.process.wait(10)
        will = expect(cloud, Channel.STATUS, BoxStatus)
        assert isinstance(will, BoxStatus)
        assert (will.state, will.session) == (BoxState.OFFLINE, 1)

        second = AgentProcess(agent_args, log_path)
        processes.append(second)
        rebirth = expect(cloud, Channel.STATUS, BoxStatus, STARTUP_TIMEOUT)
        assert isinstance(rebirth, BoxStatus), second.log()
        assert (rebirth.state, rebirth.session) == (BoxState.ONLINE, 2)

        # The ledger survived the kill: the same command is a replay.
        cloud.publish(topic(BOX, Channel.COMMANDS), encode(signed))
        replay = expect(cloud, Channel.REPLIES, CommandReply)
        assert isinstance(replay, CommandReply)
        assert (replay.outcome, replay.reason) == (CommandOutcome.REJECTED, RejectReason.REPLAYED)

        # SIGTERM is the clean shutdown: an explicit offline, exit code 0.
        second.process.send_signal(signal.SIGTERM)
        assert second.process.wait(15) == 0, second.log()
        goodbye = expect(cloud, Channel.STATUS, BoxStatus)
        assert isinstance(goodbye, BoxStatus)
        assert (goodbye.state, goodbye.session) == (BoxState.OFFLINE, 2)
    assert "Traceback" not in log_path.read_text(), log_path.read_text()
