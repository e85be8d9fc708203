"""A branch-aware window over a shared tree: which sibling each group shows (docs/protocol.md,
"Every device follows the conversation"; docs/wire.md §3.10). This is the one place of the rule
"which branch this device shows": a client folds into it (`arrived`, `remember`) and selects
(`select`).

The rule: every device follows the conversation.
- The newest *move* is where the conversation is: the newest prompt (a new one, or an edit),
  or the newest regenerated run (ordered by its regenerate signal), by serial; an own prompt
  not yet echoed is the newest of all. Every group on the move's ancestry shows the member
  the move descends from, so an edit, a regenerate or a prompt sent on any branch, by any
  device, moves every view to that branch. A run answering a prompt is not a move: it shows
  where its prompt is (a late start on an older branch does not pull a view back).
- A deliberate `select` (browsing with F4) pins its group until the next move: a view that
  browses shows what it chose (`browsing()` says so), and its next prompt, parented on the
  tip it shows, is that next move, which every view then follows.
- Any other group shows its newest member.
History paging (how many messages are revealed) belongs to the transport's cursor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .tree import GroupKey, InputNode, Node, RunNode, Tree


@dataclass(frozen=True)
class BranchSelection:
    has_siblings: bool
    siblings: list[str]  # node keys, oldest first
    index: int
    selected: str


@dataclass(frozen=True)
class BranchMove:
    """A move made elsewhere changed what this view shows: `node` is the move (a prompt, or
    a regenerated run), `selection` the topmost group whose shown member changed."""

    node: Node
    selection: BranchSelection


@dataclass(frozen=True)
class _Pin:
    member: str
    move: str | None  # the newest move when the pin was made: the pin lasts until a newer one


class View:
    def __init__(self, tree: Tree) -> None:
        self.tree = tree
        self._pins: dict[GroupKey, _Pin] = {}
        self._seen: dict[GroupKey, str] = {}  # what each visible group showed when last read

    # --- the rule -----------------------------------------------------------------------------

    def newest_move(self) -> Node | None:
        """The newest prompt or regenerated run (see the module docstring)."""
        best: Node | None = None
        best_key: tuple[int, str, int] | None = None
        for node in self.tree.nodes.values():
            if node.key in self.tree.superseded:
                continue
            key = self._move_order(node)
            if key is not None and (best_key is None or key > best_key):
                best, best_key = node, key
        return best

    def _move_order(self, node: Node) -> tuple[int, str, int] | None:
        if isinstance(node, InputNode):
            serial = node.serial
        elif isinstance(node, RunNode) and node.msg_regenerate:
            signal = self.tree.regenerates.get(node.input_codec_message_id or "")
            serial = signal[0] if signal else node.order_serial
        else:
            return None
        return (0, serial, node.seq) if serial else (1, "", node.seq)  # unsent sorts last

    def _ancestry(self, node: Node | None) -> dict[GroupKey, str]:
        """Each group on `node`'s ancestry, with the member `node` descends from."""
        path: dict[GroupKey, str] = {}
        seen: set[str] = set()
        while node is not None and node.key not in seen:
            seen.add(node.key)
            path.setdefault(self.tree.group_of(node), node.key)
            parent = self.tree.parent_key(node)
            node = self.tree.nodes.get(parent) if parent else None
        return path

    def _chooser(self):  # -> Callable[[GroupKey, list[Node]], str | None]
        move = self.newest_move()
        move_key = move.key if move is not None else None
        path = self._ancestry(move)

        def choose(group: GroupKey, members: list[Node]) -> str | None:
            if not members:
                return None
            keys = [m.key for m in members]
            pin = self._pins.get(group)
            if pin is not None and pin.move == move_key and pin.member in keys:
                return pin.member
            chosen = path.get(group)
            return chosen if chosen in keys else keys[-1]

        return choose

    # --- selection ----------------------------------------------------------------------------

    def select(self, cmid: str, index: int) -> None:
        """Choose sibling `index` of the group that `cmid`'s node belongs to (until the next
        move)."""
        node = self.tree.node_of(cmid) or self.tree.nodes.get(cmid)
        if node is None:
            return
        group = self.tree.group_of(node)
        members = self.tree.group_members(group)
        if 0 <= index < len(members):
            move = self.newest_move()
            self._pins = {
                g: p for g, p in self._pins.items() if p.move == (move.key if move else None)
            }
            self._pins[group] = _Pin(members[index].key, move.key if move else None)
            self.remember()

    def browsing(self) -> BranchSelection | None:
        """While a pin hides the newest move: the topmost pinned group's selection."""
        move = self.newest_move()
        if move is None or not self._pins:
            return None
        nodes = self.nodes()
        if move in nodes:
            return None
        path = self._ancestry(move)
        for node in nodes:
            group = self.tree.group_of(node)
            if group in self._pins and path.get(group, node.key) != node.key:
                return self.branch_selection(node.key)
        return None

    def arrived(self, node: Node, *, live: bool) -> BranchMove | None:
        """A node new to the tree was folded. Live, a move that changed a group's shown member
        is reported (a history page is recorded once, after it is folded: `remember`)."""
        if not live:
            return None
        before = self._seen
        self.remember()
        if self._move_order(node) is None:
            return None
        for group, key in self._seen.items():
            if group in before and before[group] != key:
                selection = self.branch_selection(key)
                return BranchMove(node, selection) if selection is not None else None
        return None

    def remember(self) -> None:
        """Record which member each visible group shows now."""
        self._seen = {self.tree.group_of(n): n.key for n in self.nodes()}

    # --- reading ------------------------------------------------------------------------------

    def nodes(self) -> list[Node]:
        return self.tree.visible(self._chooser())

    def messages(self) -> list[tuple[str, dict[str, Any]]]:
        """`(codec-message-id, OpenAIMessage)` along the selected branch, oldest first."""
        return [pair for node in self.nodes() for pair in node.messages()]

    def runs(self) -> list[RunNode]:
        """Runs on the visible branch only; every branch: `tree.runs()` (§7.15)."""
        return [n for n in self.nodes() if isinstance(n, RunNode)]

    def branch_selection(self, cmid: str) -> BranchSelection | None:
        node = self.tree.node_of(cmid) or self.tree.nodes.get(cmid)
        if node is None:
            return None
        group = self.tree.group_of(node)
        members = self.tree.group_members(group)
        siblings = [m.key for m in members]
        selected = self._chooser()(group, members) or node.key
        index = siblings.index(selected) if selected in siblings else len(siblings) - 1
        return BranchSelection(len(siblings) > 1, siblings, index, selected)
