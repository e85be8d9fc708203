"""The `tui-session` command line: flags only. Each command turns its flags into settings
overrides, loads Settings, and hands them to the package that does the work."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tui_session import paths
from tui_session.config import ConfigError, Settings, load_settings, resolve_config_file

app = typer.Typer(
    name="tui-session",
    help="Durable, multi-device AI sessions in the terminal.",
    no_args_is_help=True,
    add_completion=False,
)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Config file (TOML). Default: TUI_SESSION_CONFIG or the platform config path.",
        dir_okay=False,
    ),
]


def _settings(config: Path | None, overrides: dict[str, Any]) -> Settings:
    try:
        return load_settings(config, overrides)
    except ConfigError as err:
        # A config mistake is a usage error: show it plainly, without a traceback.
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=2) from err


@app.command()
def hub(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port to listen on.")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Directory for the database and keys.", file_okay=False)
    ] = None,
    tls_cert: Annotated[
        Path | None, typer.Option(help="TLS certificate chain (PEM).", dir_okay=False)
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option(help="TLS private key (PEM).", dir_okay=False)
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Run the local Ably-protocol hub."""
    settings = _settings(
        config,
        {
            "hub": {
                "host": host,
                "port": port,
                "data_dir": data_dir,
                "tls_cert": tls_cert,
                "tls_key": tls_key,
            }
        },
    )
    # Imported here so the CLI (and --help) works without loading the server stack.
    from tui_session.hub.server import run_hub

    run_hub(settings.hub)


@app.command()
def where(config: ConfigOption = None) -> None:
    """Print the config file, data directory and log directory in use."""
    settings = _settings(config, {})
    config_path, _ = resolve_config_file(config)
    state = "" if config_path.exists() else "  (not found: using defaults)"
    typer.echo(f"config file: {config_path}{state}")
    typer.echo(f"data dir:    {settings.hub.data_dir}")
    typer.echo(f"log dir:     {paths.log_dir()}")


if __name__ == "__main__":
    app()
