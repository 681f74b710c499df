"""The command-signing key pair written by provisioning."""

import stat
from pathlib import Path

import pytest

from docbox_protocol.messages import UnlockAction
from docbox_protocol.signing import (
    CommandSigner,
    CommandVerifier,
    key_id,
    load_private_key,
    load_public_key,
)
from docbox_provisioning.signing_keys import create_signing_key


def test_key_pair_is_written_with_safe_modes_and_works(tmp_path: Path) -> None:
    files = create_signing_key(tmp_path / "secrets")
    assert stat.S_IMODE(files.private.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.public.stat().st_mode) == 0o644
    signer = CommandSigner(load_private_key(files.private.read_bytes()))
    public = load_public_key(files.public.read_bytes())
    assert key_id(public) == files.key_id == signer.key_id
    cmd = signer.command("box-1", UnlockAction(compartment=1))
    assert CommandVerifier([public]).verify(signer.sign(cmd)) == cmd


def test_existing_key_is_not_replaced_by_accident(tmp_path: Path) -> None:
    first = create_signing_key(tmp_path)
    before = first.private.read_bytes()
    with pytest.raises(FileExistsError):
        create_signing_key(tmp_path)
    assert first.private.read_bytes() == before
    assert create_signing_key(tmp_path, overwrite=True).private.read_bytes() != before


def test_cli_never_prints_the_private_key(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from docbox_provisioning.commands import register

    root = typer.Typer()
    register(root)
    result = CliRunner().invoke(root, ["provision", "signing-key", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "PRIVATE KEY" not in result.output
    assert load_public_key((tmp_path / "command-signing.pub").read_bytes())
    again = CliRunner().invoke(root, ["provision", "signing-key", "--out", str(tmp_path)])
    assert again.exit_code == 1
