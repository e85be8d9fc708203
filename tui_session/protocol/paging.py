"""History paging over a view: which of the loaded messages are revealed (docs/wire.md §3.10).

A `Window` sits on a `View`. The tree may hold more history than the user asked to see (a
history page of 100 wire messages for a request of 10 chat messages); the window withholds
it until `reveal()` asks for more. Rules (0.8.0's `loadOlder` / `hasOlder`):

- messages that arrive live are shown at once (they are newer than the window's floor);
- `reveal(n)` shows exactly `n` more older messages when the tree holds enough; runs are
  revealed whole and the oldest overshoot is trimmed from `messages()` (the run still appears
  in `runs()`);
- a run whose `ai-run-start` is not loaded yet is not revealed while history remains: its
  older messages may still arrive, and revealing it early would grow the window later;
- `has_older()` is true while trimmed messages, withheld nodes or unread history remain.

The floor is a node sort key, so branch switches and late `ai-run-start`s never hide a node
that is newer than what the user already saw. The transport owns the history cursor and
tells the window when history is exhausted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .tree import Node, RunNode
from .view import View

# Sorts after every node with a serial and before optimistic ones: "show only new nodes".
_ONLY_NEW = (0, "\U0010ffff", 0)


@dataclass(frozen=True)
class Reveal:
    """The result of one `reveal(n)` step."""

    revealed: int  # messages newly shown
    shortfall: int  # messages still owed: fetch another history page, then reveal again
    blocked: bool  # an incomplete run (start not loaded) stopped the walk


class Window:
    def __init__(self, view: View, *, show_all: bool = False) -> None:
        self.view = view
        self._floor: tuple[int, str, int] | None = None if show_all else _ONLY_NEW
        self._revealed: set[str] = set()  # node keys revealed by paging (keys may re-sort)
        self._trim = 0  # oldest messages of the window that stay hidden
        self.history_exhausted = False

    # --- reading ---------------------------------------------------------------------------

    def _inside(self, node: Node) -> bool:
        return self._floor is None or node.key in self._revealed or node.sort_key() >= self._floor

    def nodes(self) -> list[Node]:
        """Visible nodes inside the window (including one whose oldest messages are trimmed)."""
        return [n for n in self.view.nodes() if self._inside(n)]

    def entries(self) -> list[tuple[Node, list[tuple[str, dict[str, Any]]]]]:
        """`(node, its shown messages)` in order; a trimmed node lists only what shows."""
        out, skip = [], self._trim
        for node in self.nodes():
            pairs = node.messages()
            if skip:
                cut = min(skip, len(pairs))
                pairs, skip = pairs[cut:], skip - cut
            out.append((node, pairs))
        return out

    def messages(self) -> list[tuple[str, dict[str, Any]]]:
        """`(codec-message-id, OpenAIMessage)` shown, oldest first (`getMessages()`)."""
        pairs = [pair for node in self.nodes() for pair in node.messages()]
        return pairs[self._trim :]

    def runs(self) -> list[RunNode]:
        """Runs inside the window, whole: a trimmed run is still listed (`runs()`)."""
        return [n for n in self.nodes() if isinstance(n, RunNode)]

    def withheld(self) -> int:
        """Loaded messages on the visible branch that the window does not show."""
        hidden = sum(len(n.messages()) for n in self.view.nodes() if not self._inside(n))
        return hidden + self._trim

    def has_older(self) -> bool:
        if self._trim or not self.history_exhausted:
            return True
        return any(not self._inside(n) for n in self.view.nodes())

    # --- paging ----------------------------------------------------------------------------

    def reveal(self, limit: int) -> Reveal:
        """Show up to `limit` more older messages from what the tree holds.

        A non-zero `shortfall` means the tree ran out (or reached a run whose start is not
        loaded): fetch an older history page and call `reveal(shortfall)` again.
        """
        if limit <= 0:
            return Reveal(0, 0, False)
        untrim = min(self._trim, limit)
        self._trim -= untrim
        owed = limit - untrim
        if owed == 0:
            return Reveal(untrim, 0, False)
        revealed = 0
        for node in reversed([n for n in self.view.nodes() if not self._inside(n)]):
            if self._incomplete(node):
                return Reveal(untrim + revealed, owed - revealed, True)
            count = len(node.messages())
            self._reveal_node(node)
            if revealed + count >= owed:
                self._trim = revealed + count - owed
                return Reveal(untrim + owed, 0, False)
            revealed += count
        if self._floor == _ONLY_NEW:
            # nothing was withheld: everything loaded shows; older pages will stay withheld
            keys = [n.sort_key() for n in self.view.tree.nodes.values()]
            self._floor = min(keys) if keys else (None if self.history_exhausted else _ONLY_NEW)
        return Reveal(untrim + revealed, owed - revealed, False)

    def _reveal_node(self, node: Node) -> None:
        self._revealed.add(node.key)
        key = node.sort_key()
        if self._floor is None or key < self._floor:
            self._floor = key

    def _incomplete(self, node: Node) -> bool:
        """A run whose start is not loaded may still gain older messages from history."""
        return not self.history_exhausted and isinstance(node, RunNode) and not node.start_serial
