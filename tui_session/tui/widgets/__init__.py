"""The widgets of the chat screen. None of them touches the network."""

from .composer import Composer
from .status import ActiveTurnsStrip, ConnectionBanner, PresenceBar, SessionHeader
from .transcript import Transcript
from .turn import PromptItem, TurnItem
from .wire import WirePane

__all__ = [
    "ActiveTurnsStrip",
    "Composer",
    "ConnectionBanner",
    "PresenceBar",
    "PromptItem",
    "SessionHeader",
    "Transcript",
    "TurnItem",
    "WirePane",
]
