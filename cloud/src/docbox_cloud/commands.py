"""``docbox cloud …`` commands.

The docbox CLI loads every plugin at start, so heavy imports (FastAPI, SQLAlchemy, uvicorn)
happen inside the command functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from docbox_cloud.settings import CloudSettings


def register(root: typer.Typer) -> None:
    """Add the ``cloud`` command group to the docbox CLI."""
    group = typer.Typer(help="Run and administer the docbox cloud service.", no_args_is_help=True)

    @group.command("serve")
    def serve(
        host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port")] = 8000,
        log_level: Annotated[
            str | None, typer.Option(help="debug, info, warning or error (default: DOCBOX_LOG_LEVEL)")
        ] = None,
    ) -> None:
        """Serve the REST API (and the MQTT bridge when DOCBOX_MQTT_URL is set)."""
        import uvicorn

        from docbox_cloud.api.app import create_app
        from docbox_cloud.logging_setup import configure_logging

        settings = _settings()
        # DOCBOX_LOG_FORMAT: json in production, text for people.
        level = (log_level or settings.log_level).lower()
        configure_logging(settings.log_format, level)
        uvicorn.run(create_app(settings), host=host, port=port, log_level=level, log_config=None)

    @group.command("migrate")
    def migrate_command() -> None:
        """Upgrade the database (DOCBOX_DATABASE_URL) to the newest schema."""
        from docbox_cloud.errors import CloudError
        from docbox_cloud.migrate import migrate
        from docbox_cloud.settings import DatabaseSettings

        try:
            migrate(DatabaseSettings().database_url)
        except CloudError as exc:
            _fail(str(exc))
        typer.echo("database is up to date")

    @group.command("add-box")
    def add_box(
        box_id: Annotated[str, typer.Argument(help="Box id: lowercase letters, digits and '-'")],
        name: Annotated[str | None, typer.Option(help="Human-readable name (default: the id)")] = None,
    ) -> None:
        """Register a box so that the cloud accepts its messages."""
        import asyncio

        from docbox_cloud.errors import CloudError

        try:
            asyncio.run(_add_box(box_id, name or box_id))
        except CloudError as exc:
            _fail(str(exc))
        typer.echo(f"registered box {box_id}")

    root.add_typer(group, name="cloud")


def _settings() -> CloudSettings:
    from pydantic import ValidationError

    from docbox_cloud.settings import CloudSettings

    try:
        return CloudSettings()
    except ValidationError as exc:
        from docbox_protocol.codec import describe

        _fail(f"invalid settings (DOCBOX_* environment): {describe(exc)}")


async def _add_box(box_id: str, name: str) -> None:
    from pydantic import TypeAdapter, ValidationError

    from docbox_cloud import boxes
    from docbox_cloud.db import create_engine, session_factory, transaction
    from docbox_cloud.errors import ConfigError
    from docbox_cloud.settings import DatabaseSettings
    from docbox_protocol.ids import BoxId

    try:
        TypeAdapter(BoxId).validate_python(box_id)
    except ValidationError:
        raise ConfigError(f"invalid box id {box_id!r}: use lowercase letters, digits and '-'") from None
    engine = create_engine(DatabaseSettings().database_url)
    try:
        async with transaction(session_factory(engine)) as session:
            await boxes.register_box(session, box_id, name)
    finally:
        await engine.dispose()


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)
