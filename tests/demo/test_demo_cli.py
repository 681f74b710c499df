"""`docbox demo` as a user runs it: a separate process that prints its URLs and stops on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from docbox_protocol import decode
from docbox_protocol.messages import BoxState, BoxStatus
from tests.support.mqtt import MqttTestClient

READY_TIMEOUT_S = 60


class DemoProcess:
    """The demo running as a child process, its output collected line by line."""

    def __init__(self, data_dir: Path) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from docbox_protocol.cli import main; main()",
                "demo",
                "--port=0",
                "--mqtt-port=0",
                "--compartments=40",
                "--applicant-interval=0.5",
                "--walk-time=0.5",
                f"--data-dir={data_dir}",
                "--seed=7",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: list[str] = []
        self._ready = threading.Event()
        self._collected = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if "Ctrl-C stops it" in line:
                self._ready.set()
            if "applicant collected it from compartment" in line:
                self._collected.set()
        self._ready.set()  # EOF: the process ended

    def close(self) -> None:
        """Release the output pipe once the process has ended."""
        self._reader.join(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def wait_collected(self, timeout_s: float) -> bool:
        """Wait until a simulated applicant collected a document at the kiosk."""
        return self._collected.wait(timeout_s)

    def wait_ready(self) -> str:
        assert self._ready.wait(READY_TIMEOUT_S), "demo did not become ready"
        text = "".join(self.lines)
        assert self.proc.poll() is None, f"demo exited early:\n{text}"
        return text


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DemoProcess]:
    process = DemoProcess(tmp_path / "demo-data")
    yield process
    if process.proc.poll() is None:
        process.proc.kill()
    process.proc.wait()
    process.close()


def test_demo_prints_urls_serves_the_box_and_stops_cleanly(demo: DemoProcess) -> None:
    text = demo.wait_ready()
    api_url = re.search(r"cloud API\s+(http://127\.0\.0\.1:\d+)", text)
    broker = re.search(r"MQTT broker\s+mqtt://(127\.0\.0\.1):(\d+)", text)
    token = re.search(r"API token\s+(\S+)", text)
    assert api_url, text
    assert broker, text
    assert token, text

    # An ordinary MQTT client sees the box's traffic: its retained birth status.
    with MqttTestClient(broker.group(1), int(broker.group(2))) as client:
        client.subscribe("docbox/v1/boxes/demo-box/status")
        status = decode(BoxStatus, client.expect_message(timeout=10).payload)
    assert status.state is BoxState.ONLINE

    headers = {"Authorization": f"Bearer {token.group(1)}"}
    with httpx.Client(base_url=api_url.group(1), headers=headers, timeout=30) as api:
        assert api.get("/api/v1/boxes/demo-box/compartments").status_code == 200
        assert len(api.get("/api/v1/boxes/demo-box/compartments").json()) == 40
        assert api.get("/api/v1/boxes").status_code == 200
        assert httpx.get(f"{api_url.group(1)}/api/v1/boxes").status_code == 401
        opened = api.post("/api/v1/boxes/demo-box/compartments/40/open")
        assert opened.status_code == 200, opened.text
        assert opened.json()["outcome"] == "opened"
        spec = api.get("/openapi.json").json()
        assert "/api/v1/boxes/{box_id}/compartments/{number}/open" in spec["paths"]

    # The simulated people run the pickup workflow end to end: staff register and load a
    # document, the applicant gets the PIN by (simulated) SMS and collects at the kiosk.
    assert demo.wait_collected(60), "".join(demo.lines)[-4000:]

    demo.proc.send_signal(signal.SIGINT)
    assert demo.proc.wait(timeout=30) == 0
    output = "".join(demo.lines)
    assert "stopping" in output
    assert "Traceback" not in output, output
