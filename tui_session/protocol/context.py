"""What the model sees (docs/wire.md §4.7), and how far back an agent must page for it (§7.5). Pure.

- `ancestor_chain` walks `parent` links up from the input a run answers, through the tree's
  codec-message-id index, and says whether the walk reached a root (or the budget) or stopped
  at a message that is not loaded yet (the agent then pages older history).
- `context_messages` keeps only ancestor runs that completed, each with the prompt it
  answered, appends the current run, and moves the run's unanswered steers to the end (only
  those from senders the agent accepts steers from, `steer_by`); given the session's handover
  view, it applies what the model reads of a handover (`handover_context.py`: operator notes,
  forged replies left out, accepted answers only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .handover_context import keep_accepted, run_preamble
from .handover_fold import HandoverView
from .projection import to_responses_input
from .tree import InputNode, Node, RunNode, Tree
from .wire import Role, RunStatus

DEFAULT_CONTEXT_BUDGET = 200  # ancestor nodes; older ones are neither paged for nor sent


@dataclass(frozen=True)
class Chain:
    """Ancestor nodes, oldest first. `complete` is False when the walk hit an unloaded parent."""

    nodes: list[Node]
    complete: bool
    missing: str | None = None  # the codec-message-id not loaded yet


def _parent_of(node: Node) -> str | None:
    if isinstance(node, RunNode):
        return node.structural_parent
    return node.parent


def ancestor_chain(tree: Tree, start: str | None, budget: int = DEFAULT_CONTEXT_BUDGET) -> Chain:
    """Walk up from `start` (a codec-message-id): the input a run answers, and its ancestors.

    A run reached through the walk must have its `ai-run-start` loaded (its status and parent
    are only known then); otherwise the chain is incomplete at that run's message.
    """
    nodes: list[Node] = []
    seen: set[str] = set()
    cmid = start
    while cmid:
        node = tree.node_of(cmid)
        if node is None:
            return Chain(list(reversed(nodes)), False, cmid)
        if node.key in seen:  # continuation inputs may name themselves: guard cycles
            break
        if isinstance(node, RunNode) and node.start_serial is None:
            return Chain(list(reversed(nodes)), False, cmid)
        seen.add(node.key)
        nodes.append(node)
        if len(nodes) >= budget:
            break
        cmid = _parent_of(node)
    return Chain(list(reversed(nodes)), True)


def _excluded(tree: Tree, chain: list[Node]) -> set[str]:
    """Unfinished ancestor runs and the prompts they answered (§4.7)."""
    out: set[str] = set()
    for node in chain:
        if isinstance(node, RunNode) and node.status != RunStatus.COMPLETE:
            out.add(node.key)
            parent = tree.parent_key(node)
            if parent is not None and isinstance(tree.nodes.get(parent), InputNode):
                out.add(parent)
    return out


def context_messages(
    tree: Tree,
    *,
    start: str | None,
    run_id: str | None = None,
    regenerates: str | None = None,
    budget: int = DEFAULT_CONTEXT_BUDGET,
    handover: HandoverView | None = None,
    steer_by: Callable[[str | None], bool] | None = None,
) -> list[dict[str, Any]]:
    """OpenAI messages for one model pass of run `run_id`, answering input `start`.

    `regenerates` (the message being regenerated) cuts the context before that message.
    Run-tagged user messages of the current run that no output has answered yet (steers)
    are moved to the end, so the prompt ends with a user message.
    """
    chain = ancestor_chain(tree, start, budget).nodes
    current = tree.run(run_id) if run_id else None
    if current is not None:
        chain = [n for n in chain if n.key != current.key]
    excluded = _excluded(tree, chain)
    messages: list[dict[str, Any]] = []
    for node in chain:
        preamble = run_preamble(handover, node)
        if node.key in excluded or preamble is None:
            continue
        messages += preamble
        for cmid, message in node.messages():
            if cmid == regenerates:
                return keep_accepted(messages, handover)
            messages.append(message)
    if current is None:
        return keep_accepted(messages, handover)
    answered = current.steer_ids
    senders = {e.codec_message_id: e.client_id for e in current.log if e.role == Role.USER}
    pending: list[dict[str, Any]] = []
    for cmid, message in current.messages():
        if cmid == regenerates:
            break
        if message.get("role") == Role.USER and cmid not in answered:
            if steer_by is None or steer_by(senders.get(cmid)):
                pending.append(message)  # a steer someone not accepted sent is left out
        else:
            messages.append(message)
    return keep_accepted(messages + pending, handover)


def context_input(tree: Tree, **kwargs: Any) -> list[dict[str, Any]]:
    """`context_messages` flattened into `/v1/responses` input items."""
    return to_responses_input(context_messages(tree, **kwargs))
