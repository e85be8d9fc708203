"""A branch-aware window over a shared tree: which sibling each group shows (docs/wire.md
§3.10). This is the one place of the rule "which branch this device shows": a client folds
into it (`arrived`, `remember`), follows its own edits (`follow`) and selects (`select`).

Selection rules:
- a group's default member is the newest;
- this view's own edit or regenerate selects the new branch (`follow`);
- an edit sibling created elsewhere does not move the view: it stays on what it showed;
- a regenerate sibling created elsewhere rolls the view forward, unless the user explicitly
  selected a member of that group;
- an explicit `select` is remembered per group and survives new siblings.
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


class View:
    def __init__(self, tree: Tree) -> None:
        self.tree = tree
        self._shown: dict[GroupKey, str] = {}  # what this view last showed, per group
        self._pinned: set[GroupKey] = set()  # groups the user chose explicitly
        self._follow: set[str] = set()  # own inputs whose node or run should be selected

    # --- selection -------------------------------------------------------------------------

    def follow(self, input_cmid: str) -> None:
        """After this view's own edit (the new prompt's id) or regenerate (the carrier's id)."""
        self._follow.add(input_cmid)

    def select(self, cmid: str, index: int) -> None:
        """Choose sibling `index` of the group that `cmid`'s node belongs to."""
        node = self.tree.node_of(cmid) or self.tree.nodes.get(cmid)
        if node is None:
            return
        group = self.tree.group_of(node)
        members = self.tree.group_members(group)
        if 0 <= index < len(members):
            self._shown[group] = members[index].key
            self._pinned.add(group)

    def _select(self, group: GroupKey, members: list[Node]) -> str | None:
        if not members:
            return None
        keys = [m.key for m in members]
        followed = [m for m in members if self._followed(m)]
        if followed:
            choice = followed[-1]
            self._follow.discard(choice.key)
            if isinstance(choice, RunNode):
                self._follow -= choice.trigger_input_ids
            self._shown[group] = choice.key
            return choice.key
        current = self._shown.get(group)
        sticky = group in self._pinned or group[0] == "inputs"
        if sticky and current in keys:
            return current
        self._shown[group] = keys[-1]  # newest; regenerate groups roll forward
        return keys[-1]

    def _followed(self, node: Node) -> bool:
        if isinstance(node, InputNode):
            return node.key in self._follow
        return isinstance(node, RunNode) and bool(node.trigger_input_ids & self._follow)

    def arrived(self, node: Node, *, live: bool) -> None:
        """A node new to the tree was folded. Live, record what this view shows now, so that
        a sibling made elsewhere later finds its group's choice made (rule 3); a history page
        is recorded once, after it is folded (`remember`)."""
        if live:
            self.remember()

    def remember(self) -> None:
        """Record which sibling each group shows now."""
        self.nodes()

    # --- reading ---------------------------------------------------------------------------

    def nodes(self) -> list[Node]:
        return self.tree.visible(self._select)

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
        self.nodes()  # make sure this view's choice for the group is recorded
        group = self.tree.group_of(node)
        siblings = [m.key for m in self.tree.group_members(group)]
        selected = self._shown.get(group, siblings[-1] if siblings else node.key)
        index = siblings.index(selected) if selected in siblings else len(siblings) - 1
        return BranchSelection(len(siblings) > 1, siblings, index, selected)
