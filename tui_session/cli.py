"""The `tui-session` command line: flags only. Each command turns its flags into settings
overrides, loads Settings, and hands them to the package that does the work."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tui_session import paths
from tui_session.config import ConfigError, Settings, load_settings, resolve_config_file

if TYPE_CHECKING:
    from tui_session.launch import Launch

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


InsecureOption = Annotated[
    bool | None,
    typer.Option(
        "--insecure",
        help="Off loopback, serve plaintext instead of TLS (a network you trust completely).",
    ),
]


def _usage_error(err: Exception) -> typer.Exit:
    """A mistake the person can fix: one sentence, exit code 2, no traceback."""
    typer.echo(f"error: {err}", err=True)
    return typer.Exit(code=2)


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
    insecure: InsecureOption = None,
    config: ConfigOption = None,
) -> None:
    """Run the local Ably-protocol hub (TLS off loopback, see --insecure)."""
    settings = _settings(
        config,
        {
            "hub": {
                "host": host,
                "port": port,
                "data_dir": data_dir,
                "tls_cert": tls_cert,
                "tls_key": tls_key,
                "insecure": insecure,
            }
        },
    )
    # Imported here so the CLI (and --help) works without loading the server stack.
    from tui_session.hub.server import run_hub

    run_hub(settings.hub)


ModelOption = Annotated[
    str | None, typer.Option(help='Model name ("offline-demo" for the offline demo model).')
]
BaseUrlOption = Annotated[str | None, typer.Option(help="OpenAI-compatible server base URL.")]
ApiOption = Annotated[
    str | None, typer.Option(help='"responses" or "chat" (Chat Completions servers).')
]


@app.command()
def agent(
    host: Annotated[str | None, typer.Option(help="Address of the HTTP API.")] = None,
    port: Annotated[int | None, typer.Option(help="Port of the HTTP API.")] = None,
    hub: Annotated[
        str | None, typer.Option("--hub", help="The hub's HOST:PORT (its key: --data-dir).")
    ] = None,
    ably_key: Annotated[
        str | None, typer.Option(help="Serve sessions on Ably's cloud with this API key.")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="The hub's data dir (its key) and the run ledger.")
    ] = None,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    api: ApiOption = None,
    config: ConfigOption = None,
) -> None:
    """Run the agent service alone, against a hub or Ably's cloud."""
    overrides = {"host": host, "port": port, "model": model, "base_url": base_url, "api": api}
    settings = _settings(
        config,
        {"agent": overrides, "hub": {"data_dir": data_dir}, "client": {"ably_key": ably_key}},
    )
    from tui_session.agent.launch import run_agent
    from tui_session.serve import agent_target, agent_tls

    target = agent_target(settings, hub)
    run_agent(settings.agent, target, settings.hub.data_dir, agent_tls(settings))


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address of the hub and the agent's HTTP API.")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port of the hub.")] = None,
    agent_port: Annotated[int | None, typer.Option(help="Port of the agent's HTTP API.")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Directory for the database, keys and run ledger.")
    ] = None,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    api: ApiOption = None,
    insecure: InsecureOption = None,
    config: ConfigOption = None,
) -> None:
    """Run the hub and the agent service in one process (what `chat` starts when needed).
    Off loopback both serve TLS; invite other machines with `tui-session invite`."""
    settings = _settings(
        config,
        {
            "hub": {"host": host, "port": port, "data_dir": data_dir, "insecure": insecure},
            "agent": {
                "host": host,
                "port": agent_port,
                "model": model,
                "base_url": base_url,
                "api": api,
            },
        },
    )
    from tui_session.serve import run_serve

    run_serve(settings)


@app.command()
def chat(
    session: Annotated[
        str | None, typer.Option(help="Session id to join. Default: a new one.")
    ] = None,
    channel: Annotated[
        str | None, typer.Option(help="Raw channel name to join (instead of --session).")
    ] = None,
    user: Annotated[str | None, typer.Option(help="Your user name. Default: the OS user.")] = None,
    device: Annotated[
        str | None, typer.Option(help="This device's name. Default: host name + terminal.")
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option(help="local | ably | HOST:PORT (a hub elsewhere).")
    ] = None,
    agent_url: Annotated[str | None, typer.Option(help="The agent service's base URL.")] = None,
    join: Annotated[
        str | None, typer.Option(help="Join with an invite (`tui-session invite` prints it).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Open the terminal client on a session (starting a local hub when none is reachable)."""
    from tui_session import access as accessing
    from tui_session import launch

    invite = None
    if join is not None:
        given = {"--session": session, "--channel": channel, "--endpoint": endpoint}
        try:
            invite = accessing.read_join(join, given={**given, "--agent-url": agent_url}, user=user)
            accessing.preflight(invite)
        except ValueError as err:
            raise _usage_error(err) from err
        user, session, channel = invite.user, None, invite.channel
    overrides: dict[str, Any] = {
        "client.user": user,
        "client.device": device or launch.default_device(),
        "client.agent_url": agent_url,
        **launch.endpoint_overrides(endpoint),
    }
    settings = _settings(config, overrides)
    hub_elsewhere = "hub.host" in launch.endpoint_overrides(endpoint)
    plan = _plan(settings, session, channel, endpoint)
    try:
        access = accessing.for_invite(invite) if invite else None
        if access is None and (hub_elsewhere or settings.client.endpoint != "local"):
            access = accessing.for_settings(settings, hub_elsewhere=hub_elsewhere)
        if access is None:  # the local hub: start it when none is reachable, then its key
            plan = launch.ensure_local_server(plan, config=config)
            access = accessing.for_settings(settings, hub_elsewhere=False)
        plan = accessing.describe(plan, access, invite)
    except accessing.AccessError as err:
        raise _usage_error(err) from err
    except launch.LaunchError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=1) from err
    if plan.started_server:
        typer.echo(
            f"started `tui-session {plan.started_server}` in the background "
            f"(logs in {paths.log_dir()})"
        )
    if plan.created:
        typer.echo(f"new session; join it from another terminal with:\n  {plan.join_command}")
    from tui_session.tui.app import make_app

    factory = launch.session_factory(settings, access=access)
    chat_app = make_app(settings, factory, launch.chat_options(plan))
    chat_app.run()
    if plan.created:
        typer.echo(f"to come back to this session: {plan.join_command}")


@app.command()
def export(
    session: Annotated[str | None, typer.Option(help="Session id to export.")] = None,
    channel: Annotated[
        str | None, typer.Option(help="Raw channel name (instead of --session).")
    ] = None,
    format: Annotated[
        str, typer.Option("--format", help="md: the conversation; jsonl: the channel log.")
    ] = "md",
    output: Annotated[
        Path | None, typer.Option(help="Write to this file instead of standard output.")
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option(help="local | ably | HOST:PORT (a hub elsewhere).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Export a session: its conversation as Markdown, or its raw channel log as JSON lines."""
    if format not in ("md", "jsonl"):
        typer.echo("error: --format must be md or jsonl", err=True)
        raise typer.Exit(code=2)
    if not session and not channel:
        typer.echo("error: give --session ID or --channel NAME", err=True)
        raise typer.Exit(code=2)
    from tui_session import access as accessing
    from tui_session import launch
    from tui_session.transport.export import export_session

    settings = _settings(config, launch.endpoint_overrides(endpoint))
    hub_elsewhere = "hub.host" in launch.endpoint_overrides(endpoint)
    plan = _plan(settings, session, channel, endpoint)
    try:
        access = accessing.for_settings(settings, hub_elsewhere=hub_elsewhere)
        user = settings.client.user
        text = export_session(
            settings,
            plan.channel_name,
            format,
            open_realtime=lambda: access.realtime(user, plan.channel_name),
        )
    except accessing.AccessError as err:
        raise _usage_error(err) from err
    except launch.LaunchError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=1) from err
    except Exception as err:  # the SDK's errors: show the cause, not a traceback
        typer.echo(f"error: cannot read {plan.channel_name}: {err}", err=True)
        raise typer.Exit(code=1) from err
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


def _plan(
    settings: Settings, session: str | None, channel: str | None, endpoint: str | None
) -> Launch:
    """The session to open; a name the hub would refuse is a usage error (exit code 2),
    reported before anything connects."""
    from tui_session import launch
    from tui_session.sessions import InvalidName

    try:
        return launch.plan(settings, session=session, channel=channel, endpoint_flag=endpoint)
    except (InvalidName, launch.LaunchError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=2) from err


@app.command()
def invite(
    session: Annotated[str | None, typer.Option(help="The session to invite to.")] = None,
    user: Annotated[
        str | None, typer.Option(help="Who joins (their clientId). Default: you (client.user).")
    ] = None,
    ttl: Annotated[str, typer.Option(help="How long the invite works: 30m, 8h, 2d (max 7d).")] = (
        "8h"
    ),
    read_only: Annotated[
        bool, typer.Option("--read-only", help="Watch only: no prompts, cancels or approvals.")
    ] = False,
    revoke: Annotated[
        str | None,
        typer.Option(help="Revoke: an invite id, a join string, or clientId:NAME."),
    ] = None,
    address: Annotated[
        str | None, typer.Option(help="The hub's address as other machines reach it.")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="The running hub's data dir.", file_okay=False)
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Invite a terminal on another machine to a session (run on the hub's machine), or
    revoke an invite. No key leaves this machine: the invite holds a scoped, expiring token."""
    import asyncio

    from tui_session import invite as inviting

    settings = _settings(config, {"hub": {"data_dir": data_dir}})
    try:
        if revoke is not None:
            target = inviting.revocation_target(revoke)
            result, live = asyncio.run(inviting.revoke(settings, target))
            typer.echo(inviting.describe_revocation(result, live))
            return
        if not session:
            raise inviting.InviteError("give --session ID (or --revoke INVITE)")
        invitation, notes = inviting.invite_to_running(
            settings,
            channel=f"{inviting.SESSION_PREFIX}{session}",
            user=user or settings.client.user,
            ttl_ms=inviting.parse_ttl(ttl),
            read_only=read_only,
            address=address,
        )
    except inviting.InviteError as err:
        raise _usage_error(err) from err
    for note in notes:
        typer.echo(f"note: {note}", err=True)
    typer.echo(inviting.describe(invitation))


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
