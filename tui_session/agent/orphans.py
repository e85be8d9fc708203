"""Ending a run that a killed agent left open, from what the channel says about it."""

from __future__ import annotations

import logging

from tui_session.protocol import RunReason, RunStatus
from tui_session.transport.agent import AgentSession

log = logging.getLogger(__name__)

MAX_PAGES = 50  # how far back to look for the run before giving up
ORPHAN_ERROR_CODE = 104008


async def end_open_run(agent: AgentSession, run_id: str, message: str) -> bool:
    """Publish `ai-run-end` with `error` for `run_id` unless the channel shows it ended (or
    suspended: a run waiting for approval is not orphaned; its approval's POST resumes it).
    Returns whether it published."""
    node = await agent.find_run(run_id, MAX_PAGES)
    if node is None:
        log.warning("orphaned run %s not found on %s", run_id, agent.channel_name)
        return False
    if node.terminal or node.status == RunStatus.SUSPENDED:
        return False  # ended already, or waiting for an approval that a later POST resumes
    await agent.end_unheld_run(
        run_id,
        RunReason.ERROR,
        owner=node.client_id or "",
        input_codec_message_id=node.input_codec_message_id or "",
        error_code=ORPHAN_ERROR_CODE,
        error_message=message,
    )
    log.info("ended orphaned run %s on %s: %s", run_id, agent.channel_name, message)
    return True
