"""Ending a run that a killed agent left open, from what the channel says about it."""

from __future__ import annotations

import logging
import uuid

from tui_session.protocol import RunHeaders, RunReason, RunStatus
from tui_session.transport.agent import AgentSession
from tui_session.transport.channel_io import ChannelWriter

log = logging.getLogger(__name__)

MAX_PAGES = 50  # how far back to look for the run before giving up


async def end_open_run(agent: AgentSession, run_id: str, message: str) -> bool:
    """Publish `ai-run-end` with `error` for `run_id` unless the channel shows it ended (or
    suspended: a run waiting for approval is not orphaned; its approval's POST resumes it).

    The run keeps its owner (`run-client-id` of its start, docs/wire.md §7.8); the end gets a fresh
    invocation id, as any later invocation's messages do. Returns whether it published.
    """
    pages = 0
    node = agent.tree.run(run_id)
    while (node is None or node.start_serial is None) and pages < MAX_PAGES:
        if not await agent.page_older():
            break
        pages += 1
        node = agent.tree.run(run_id)
    if node is None:
        log.warning("orphaned run %s not found on %s", run_id, agent.channel_name)
        return False
    if node.terminal or node.status == RunStatus.SUSPENDED:
        return False  # ended already, or waiting for an approval that a later POST resumes
    headers = RunHeaders(
        run_id=run_id,
        invocation_id=str(uuid.uuid4()),
        input_codec_message_id=node.input_codec_message_id or "",
        run_client_id=node.client_id or "",
    )
    await ChannelWriter(agent.channel).publish(headers.run_end(RunReason.ERROR, 104008, message))
    log.info("ended orphaned run %s on %s: %s", run_id, agent.channel_name, message)
    return True
