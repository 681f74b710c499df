"""The ``docbox cloud`` commands."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from docbox_cloud.commands import register


@pytest.fixture
def cli() -> typer.Typer:
    root = typer.Typer()
    register(root)
    return root


@pytest.fixture
def database_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db' / 'docbox.db'}"
    monkeypatch.setenv("DOCBOX_DATABASE_URL", url)
    return url


def test_migrate_then_add_box(cli: typer.Typer, database_env: str) -> None:
    runner = CliRunner()

    migrated = runner.invoke(cli, ["cloud", "migrate"])
    added = runner.invoke(cli, ["cloud", "add-box", "box-7", "--name", "Side entrance"])
    again = runner.invoke(cli, ["cloud", "add-box", "box-7"])
    invalid = runner.invoke(cli, ["cloud", "add-box", "Box_7"])

    assert migrated.exit_code == 0, migrated.output
    assert added.exit_code == 0, added.output
    assert (again.exit_code, invalid.exit_code) == (1, 1)
    assert "already registered" in again.output
    assert "invalid box id" in invalid.output


def test_serve_without_api_token_explains_what_is_missing(
    cli: typer.Typer, database_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOCBOX_API_TOKEN", raising=False)

    result = CliRunner().invoke(cli, ["cloud", "serve"])

    assert result.exit_code == 1
    assert "api_token" in result.output
