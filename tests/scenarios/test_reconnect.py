"""After a reconnect the header says connected again (issue 11, item 9, second half): a real
connection cut (a proxy between one terminal and the hub resets its socket)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .chat_screen import LAST_LINE, header, send, transcript
from .stack import Proxy, Scenario


@pytest.fixture
def proxy(scenario: Scenario) -> Iterator[Proxy]:
    running = Proxy(scenario.server.port)
    yield running
    running.stop()


def test_after_a_reconnect_the_header_says_connected_and_the_banner_says_it_briefly(
    scenario: Scenario, proxy: Proxy
) -> None:
    # through the proxy the hub is "elsewhere": the terminal gets its token from the agent's
    # token endpoint, as a device without the hub's key does
    token_url = f"http://127.0.0.1:{scenario.server.agent_port}/api/token"
    laptop = scenario.chat(
        "laptop",
        device="laptop",
        args=("--endpoint", f"127.0.0.1:{proxy.port}"),
        env={"TUI_SESSION_CLIENT_AUTH_URL": token_url},
    )
    phone = scenario.chat("phone", device="phone")
    send(laptop, "before the cut")
    laptop.wait_for("● streaming")
    assert proxy.cut() >= 1  # mid-answer
    laptop.wait_for("✓ Reconnected", what="the banner saying the connection is back")
    assert "● connected" in header(laptop.text)
    laptop.wait_gone("✓ Reconnected")  # only briefly
    assert "● connected" in header(laptop.text)
    assert "resumed" not in laptop.text
    laptop.wait_for("✓ done")
    laptop.wait_for(LAST_LINE)
    assert laptop.text.count(LAST_LINE) == 1  # caught up once
    send(phone, "after the cut")  # and the session goes on
    laptop.wait_for(lambda s: "after the cut" in transcript(s), what="the phone's prompt")
