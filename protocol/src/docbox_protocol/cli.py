"""The ``docbox`` command line: a Typer root that each installed docbox package extends.

Packages register sub-commands through the ``docbox.commands`` entry-point group, so a
Raspberry Pi with only docbox-edge installed gets ``docbox edge`` and nothing that would pull
in the cloud's dependencies.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

import typer

app = typer.Typer(
    name="docbox",
    help="docbox: document pickup box and emergency appointments.",
    no_args_is_help=True,
    add_completion=False,
)


def load_plugins(root: typer.Typer) -> None:
    """Let every installed docbox package add its commands to ``root``."""
    for ep in sorted(entry_points(group="docbox.commands"), key=lambda e: e.name):
        try:
            register = ep.load()
        except ImportError as exc:
            logging.getLogger(__name__).warning("docbox command %r unavailable: %s", ep.name, exc)
            continue
        register(root)


def main() -> None:
    """Entry point of the ``docbox`` console script."""
    load_plugins(app)
    app()
