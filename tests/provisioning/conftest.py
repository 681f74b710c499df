"""Fixtures of the provisioning tests: PKI folders (made once per session where possible) and
Mosquitto brokers started with the generated configuration."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.provisioning.helpers import BOX_A, PkiFolder, StartBroker, make_pki
from tests.support.fixtures import MosquittoFactory
from tests.support.services import MosquittoServer


@pytest.fixture(scope="session")
def session_pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PkiFolder]:
    """One PKI with boxes box-a and box-b for every test that does not change it."""
    root = tmp_path_factory.mktemp("pki") / "pki"
    yield make_pki(root)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def foreign_pki(tmp_path_factory: pytest.TempPathFactory) -> PkiFolder:
    """Another CA that issued a certificate for the same box id box-a (an attacker's CA)."""
    return make_pki(tmp_path_factory.mktemp("foreign") / "pki", boxes=(BOX_A,))


@pytest.fixture
def own_pki(tmp_path: Path) -> PkiFolder:
    """A PKI of this test's own, for tests that revoke or rotate."""
    return make_pki(tmp_path / "pki")


@pytest.fixture
def start_broker(mosquitto_factory: MosquittoFactory) -> StartBroker:
    """Start Mosquitto with a PKI's generated docbox.conf, included as from conf.d/."""

    def start(pki: PkiFolder) -> MosquittoServer:
        # include_dir reads broker/*.conf, i.e. the generated docbox.conf, unchanged; the
        # fixture adds only persistence location, logging and (as root) `user root`.
        return mosquitto_factory(
            port=pki.port, default_listener=False, extra_config=[f"include_dir {pki.layout.broker}"]
        )

    return start
