"""The one-line widgets around the transcript: header, presence, active turns, banner."""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Static

from tui_session.sessions import display_name
from tui_session.transport.presence import Member
from tui_session.transport.service_health import AgentHealth

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
DEMO_MODEL = "offline-demo"

CONNECTION_LABELS = {
    "initialized": "○ connecting",
    "connecting": "○ connecting",
    "connected": "● connected",
    # after a reconnect the header says connected again; the banner says briefly that the
    # connection came back (ConnectionBanner)
    "resumed": "● connected",
    "recovered": "● connected",
    "recovering": "◐ catching up",
    "disconnected": "◌ reconnecting",
    "suspended": "◌ reconnecting",
    "closing": "○ closing",
    "closed": "○ closed",
    "failed": "✗ failed",
}
LOST = {"disconnected", "suspended", "failed", "recovering"}


def esc(text: str) -> str:
    return text.replace("[", r"\[")


def model_label(model: str | None, demo: bool = False) -> str:
    if not model:
        return "model: —"
    if model == DEMO_MODEL or demo:
        return f"model: {esc(model)} (offline demo)"
    return f"model: {esc(model)}"


def agent_label(model: str | None, health: AgentHealth | None) -> str:
    """The header's agent part: the model of the agent present on the channel, else what the
    agent service's /health said (its model, or that it cannot be reached)."""
    if model or health is None:
        return model_label(model)
    if health.reachable:
        return model_label(health.model, health.demo)
    return f"agent not reachable: {esc(health.url)} · prompts wait"


def agent_short(model: str | None, health: AgentHealth | None) -> str:
    """`agent_label` for a narrow header."""
    if model or health is None:
        return esc(model or "")
    if health.reachable:
        return esc(health.model or "")
    return "agent not reachable"


def agent_model(members: tuple[Member, ...]) -> str | None:
    for member in members:
        if member.kind == "agent":
            model = member.data.get("model")
            if model:
                return str(model)
    return None


class SessionHeader(Static):
    """Session id, endpoint, connection state, model; shortened to fit the width, the
    connection state kept at any width."""

    session_name: reactive[str] = reactive("")
    endpoint: reactive[str] = reactive("")
    connection: reactive[str] = reactive("connecting")
    model: reactive[str | None] = reactive(None)
    agent: reactive[AgentHealth | None] = reactive(None)
    read_only: reactive[bool] = reactive(False)

    def render(self) -> str:
        state = CONNECTION_LABELS.get(self.connection, self.connection)
        if self.read_only:
            state += " · read-only"  # kept at every width, like the connection state
        name = display_name(self.session_name)
        return header_text(
            name, self.endpoint, state, self.model, self.content_size.width, self.agent
        )


def header_text(
    name: str,
    endpoint: str,
    state: str,
    model: str | None,
    width: int,
    health: AgentHealth | None = None,
) -> str:
    """The longest header that fits `width` cells: first the brand goes, then the agent's
    label shortens, then the endpoint and the label go, then the session name is cut."""
    session = f"session [b]{esc(name)}[/b]"
    label, short = agent_label(model, health), agent_short(model, health)
    variants = [
        ["[b]tui-session[/b]", session, esc(endpoint), state, label],
        [session, esc(endpoint), state, label],
        [session, esc(endpoint), state, short],
        [session, state, short],
        [session, state],
    ]
    for parts in variants:
        text = " │ ".join(part for part in parts if part)
        if Text.from_markup(text).cell_len <= width:
            return text
    room = max(width - Text.from_markup(f" │ {state}").cell_len - 1, 1)
    cut = name if len(name) <= room else name[: room - 1] + "…"
    return f"[b]{esc(cut)}[/b] │ {state}"


class PresenceBar(Static):
    """Everyone present: users with their devices grouped, agents with status and model."""

    def __init__(self, me: str = "", device: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.me, self.device = me, device
        self.members: tuple[Member, ...] = ()
        self.service: AgentHealth | None = None

    def show(self, members: tuple[Member, ...]) -> None:
        self.members = members
        self.update(presence_text(members, self.me, self.device, self.service))

    def show_service(self, health: AgentHealth | None) -> None:
        """The agent service as /health describes it, shown until an agent is present."""
        self.service = health
        self.show(self.members)


def presence_text(
    members: tuple[Member, ...], me: str, device: str, service: AgentHealth | None = None
) -> str:
    users: dict[str, list[Member]] = {}
    agents: list[Member] = []
    for member in members:
        if member.kind == "agent":
            agents.append(member)
        else:
            users.setdefault(member.client_id, []).append(member)
    parts = []
    for client_id in sorted(users, key=lambda c: (c != me, c)):
        devices = []
        for member in sorted(users[client_id], key=lambda m: m.device or ""):
            name = esc(member.device or "?")
            if client_id == me and member.device == device:
                name = f"[b]{name}[/b] [reverse] you [/reverse]"
            if member.role and member.role != "user":
                name += f" [i]{esc(member.role)}[/i]"
            devices.append(name)
        parts.append(f"👤 [b]{esc(client_id)}[/b]: {', '.join(devices)}")
    for agent in agents:
        status = agent.status or "present"
        model = agent.data.get("model")
        extra = f" · {esc(str(model))}" if model else ""
        parts.append(f"⚙ [b]{esc(agent.client_id)}[/b] (agent): {esc(status)}{extra}")
    if not agents and service is not None and service.model:  # it joins at the first prompt
        name = esc(service.client_id or "agent")
        parts.append(f"⚙ [b]{name}[/b] (agent): available · {esc(service.model)}")
    if not parts:
        return "[dim]nobody present yet[/dim]"
    return "  ".join(parts)


class ActiveTurnsStrip(Static):
    """Who is streaming right now ("you", "you · laptop", "bob"), with a spinner, the
    agents' status, and the branch line (tui/labels.py)."""

    frame: reactive[int] = reactive(0)

    def __init__(self, me: str = "", spinner: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.me = me
        self.spinner = spinner
        self.turns: Mapping[str, Mapping[str, str]] = {}
        self.mine: tuple[str, ...] = ()
        self.names: Mapping[str, str] = {}
        self.agents: list[tuple[str, str]] = []
        self.branch_line: str | None = None

    def on_mount(self) -> None:
        if self.spinner:
            self.set_interval(0.1, self._tick)
        self._refresh_text()

    def _tick(self) -> None:
        if any(self.turns.values()):
            self.frame = (self.frame + 1) % len(SPINNER)

    def watch_frame(self) -> None:
        self._refresh_text()

    def show(
        self,
        turns: Mapping[str, Mapping[str, str]],
        mine: tuple[str, ...],
        names: Mapping[str, str] | None = None,
    ) -> None:
        self.turns, self.mine, self.names = turns, mine, names or {}
        self._refresh_text()

    def show_branch(self, line: str | None) -> None:
        self.branch_line = line
        self._refresh_text()

    def show_agents(self, members: tuple[Member, ...]) -> None:
        self.agents = [(m.client_id, m.status or "present") for m in members if m.kind == "agent"]
        self._refresh_text()

    def _refresh_text(self) -> None:
        counts: dict[str, dict[str, int]] = {}
        for client_id, runs in self.turns.items():
            for key, state in runs.items():
                name = self.names.get(key) or ("you" if client_id == self.me else client_id)
                counts.setdefault(state, {}).setdefault(name, 0)
                counts[state][name] += 1
        busy = bool(counts)
        glyph = SPINNER[self.frame] if self.spinner else "●"
        parts = []
        for state in ("active", "pending", "waiting"):
            if state in counts:
                who = ", ".join(f"{esc(n)} ({c})" for n, c in sorted(counts[state].items()))
                label = {"active": "streaming", "pending": "starting", "waiting": "waiting"}[state]
                parts.append(f"{label}: {who}")
        for client_id, status in self.agents:
            parts.append(f"⚙ {esc(client_id)}: {esc(status)}")
        if self.branch_line:
            parts.append(esc(self.branch_line))
        text = " │ ".join(parts) if parts else "idle"
        self.set_class(busy, "-busy")
        self.update(f"{glyph if busy else '○'} {text}")


class ConnectionBanner(Static):
    """Shown while the connection is lost or the gap is being read back, then for a few
    seconds to say the connection is back (the header just says connected)."""

    BACK_FOR_S = 4.0

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.lost = False
        self._hide: Timer | None = None

    def show_state(self, state: str, reason: str | None) -> None:
        if self._hide is not None:
            self._hide.stop()
            self._hide = None
        self.remove_class("-back")
        if state in LOST:
            self.lost = True
            text = (
                "⟳ Connection lost: reconnecting… the transcript catches up when it is back."
                if state != "recovering"
                else "⟳ Reconnected: catching up on what was missed…"
            )
            if state == "failed":
                text = "✗ Connection failed."
            if reason:
                text += f"  ({esc(reason)})"
            self.update(text)
            self.display = True
        elif state in ("resumed", "recovered") and self.lost:
            self.lost = False
            missed = "nothing was missed" if state == "resumed" else "caught up"
            self.update(f"✓ Reconnected: {missed}.")
            self.add_class("-back")
            self.display = True
            self._hide = self.set_timer(self.BACK_FOR_S, self._back_to_normal)
        elif state in ("connected", "resumed", "recovered"):
            self.display = False

    def _back_to_normal(self) -> None:
        self._hide = None
        self.display = False
