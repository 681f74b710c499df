"""docker-compose.yml validates with `docker-compose config` (Debian's docker-compose) given
a .env made from .env.example, refuses to start without its secrets, and wires the services
the way the rest of the repository expects."""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
LONG_RUNNING = {"mosquitto", "postgres", "influxdb", "grafana", "cloud", "edge"}


def docker_compose() -> str:
    program = shutil.which("docker-compose")
    if program is None:
        pytest.fail(
            "docker-compose is not installed: install the Debian package docker-compose "
            "(apt-get install docker-compose) or run ./dev.sh test as root, which installs it",
            pytrace=False,
        )
    return program


def filled_env(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A .env made from .env.example: every empty value filled with a fresh random token.

    Returns the file and the filled-in values by name.
    """
    values: dict[str, str] = {}
    lines = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.fullmatch(r"([A-Z][A-Z0-9_]*)=(.*)", line)
        if match and not match.group(2):
            name = match.group(1)
            values[name] = secrets.token_hex(16)
            line = f"{name}={values[name]}"
        lines.append(line)
    path = tmp_path / ".env"
    path.write_text("\n".join(lines) + "\n")
    return path, values


def compose_config(env_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            docker_compose(),
            "--project-directory",
            str(REPO),
            "-f",
            str(COMPOSE),
            "--env-file",
            str(env_file),
            "config",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, str]]:
    env_file, values = filled_env(tmp_path_factory.mktemp("compose"))
    result = compose_config(env_file)
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = yaml.safe_load(result.stdout)
    return parsed, values


def test_compose_validates_with_an_env_from_the_example(
    config: tuple[dict[str, Any], dict[str, str]],
) -> None:
    parsed, _ = config
    assert set(parsed["services"]) == LONG_RUNNING | {"cloud-init"}


def test_every_secret_is_required_and_has_no_default(tmp_path: Path) -> None:
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", COMPOSE.read_text()))
    assert {
        "POSTGRES_PASSWORD",
        "DOCBOX_API_TOKEN",
        "GRAFANA_ADMIN_PASSWORD",
        "INFLUXDB_WRITE_PASSWORD",
    } <= required
    example = dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", ENV_EXAMPLE.read_text(), flags=re.MULTILINE))
    for name in required:
        assert example.get(name) == "", f"{name} must be listed in .env.example without a value"

    result = compose_config(ENV_EXAMPLE)  # the example as it is: secrets empty
    assert result.returncode != 0
    assert "in .env" in result.stderr


def test_every_variable_the_compose_file_uses_is_in_the_example() -> None:
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE.read_text()))
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), flags=re.MULTILINE))
    assert used <= listed


def test_secrets_reach_only_the_services_that_need_them(
    config: tuple[dict[str, Any], dict[str, str]],
) -> None:
    parsed, values = config
    services = parsed["services"]

    def holders(secret: str) -> set[str]:
        return {name for name, service in services.items() if secret in yaml.safe_dump(service)}

    assert holders(values["INFLUXDB_ADMIN_PASSWORD"]) == {"influxdb"}
    assert holders(values["INFLUXDB_WRITE_PASSWORD"]) == {"influxdb", "cloud"}
    assert holders(values["INFLUXDB_READ_PASSWORD"]) == {"influxdb", "grafana"}
    assert holders(values["GRAFANA_ADMIN_PASSWORD"]) == {"grafana"}
    assert holders(values["DOCBOX_API_TOKEN"]) == {"cloud"}
    assert holders(values["POSTGRES_PASSWORD"]) == {"postgres", "cloud", "cloud-init"}
    assert not any("edge" in holders(secret) for secret in values.values())


def test_healthchecks_and_start_order(config: tuple[dict[str, Any], dict[str, str]]) -> None:
    services = config[0]["services"]
    for name in LONG_RUNNING:
        assert services[name]["healthcheck"]["test"], name
        assert services[name]["restart"] == "unless-stopped"
    conditions = {
        name: {dep: spec["condition"] for dep, spec in service.get("depends_on", {}).items()}
        for name, service in services.items()
    }
    assert conditions["cloud"] == {
        "cloud-init": "service_completed_successfully",
        "postgres": "service_healthy",
        "mosquitto": "service_healthy",
        "influxdb": "service_healthy",
    }
    assert conditions["cloud-init"] == {"postgres": "service_healthy"}
    assert conditions["grafana"] == {"influxdb": "service_healthy"}
    assert conditions["edge"] == {"mosquitto": "service_healthy", "cloud": "service_healthy"}


def bind_mounts(service: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """Container path -> (host path, read-only) of a service's bind mounts."""
    mounts = {}
    for volume in service["volumes"]:
        source, target, *mode = volume.split(":")
        if source.startswith("/"):
            mounts[target] = (source, mode == ["ro"])
    return mounts


def test_the_broker_offers_tls_only_and_uses_the_provisioned_files(
    config: tuple[dict[str, Any], dict[str, str]],
) -> None:
    broker = config[0]["services"]["mosquitto"]
    assert [(str(p["published"]), p["target"]) for p in broker["ports"]] == [("8883", 8883)]
    mounts = bind_mounts(broker)
    assert mounts["/mosquitto/config/docbox"] == (str(REPO / "secrets" / "pki" / "broker"), True)
    assert mounts["/mosquitto/config/mosquitto.conf"] == (
        str(REPO / "deploy" / "mosquitto" / "mosquitto.conf"),
        True,
    )
    main_config = (REPO / "deploy" / "mosquitto" / "mosquitto.conf").read_text()
    assert "include_dir /mosquitto/config/docbox" in main_config
    assert not re.search(r"^\s*(listener|port)\b", main_config, flags=re.MULTILINE)
    cloud = config[0]["services"]["cloud"]["environment"]
    assert cloud["DOCBOX_MQTT_URL"].startswith("mqtts://mosquitto:8883")


def test_grafana_is_provisioned_from_the_repository(config: tuple[dict[str, Any], dict[str, str]]) -> None:
    grafana = config[0]["services"]["grafana"]
    mounts = bind_mounts(grafana)
    assert mounts["/etc/grafana/provisioning"] == (str(REPO / "grafana" / "provisioning"), True)
    provider = yaml.safe_load((REPO / "grafana" / "provisioning" / "dashboards" / "docbox.yaml").read_text())
    assert mounts[provider["providers"][0]["options"]["path"]] == (str(REPO / "grafana" / "dashboards"), True)
    datasource = (REPO / "grafana" / "provisioning" / "datasources" / "docbox.yaml").read_text()
    for variable in set(re.findall(r"\$\{(\w+)\}", datasource)):
        assert variable in grafana["environment"], variable
