"""docs/handover.md "The desk": desk summaries folded into what the desk lists."""

from __future__ import annotations

import random

import pytest

from tui_session.protocol.decoder import Decoder
from tui_session.protocol.desk import (
    DESK_ITEM,
    DeskFold,
    DeskItem,
    DeskKind,
    DeskState,
    Thresholds,
    item_id,
)
from tui_session.protocol.responses import ResponsesCodec

T0 = 1_700_000_000_000
MIN = 60_000


def item(kind: DeskKind, key: str, since: int, *, session: str = "demo", **fields) -> DeskItem:
    channel = f"session:{session}"
    return DeskItem(
        id=item_id(kind, channel, key),
        kind=kind,
        state=DeskState.OPEN,
        session=session,
        channel=channel,
        user=fields.pop("user", "root"),
        why=fields.pop("why", "why"),
        since_ms=since,
        at_ms=fields.pop("at", since),
        **fields,
    )


class Desk:
    """A desk channel: serials in publish order, the publisher's clientId on each message."""

    def __init__(self) -> None:
        self.messages: list[dict] = []

    def put(self, desk_item: DeskItem, by: str = "agent") -> None:
        op = desk_item.publish()
        self.messages.append(
            {
                "serial": f"d{len(self.messages):04d}",
                "name": op.name,
                "data": op.data,
                "clientId": by,
            }
        )

    def fold(self, authorities=("agent",)) -> DeskFold:
        f = DeskFold(authorities)
        f.apply_all(self.messages)
        return f


def scenario() -> tuple[Desk, dict[str, DeskItem]]:
    desk = Desk()
    items = {
        "esc": item(DeskKind.ESCALATION, "call_1", T0, why="wants a refund", by="model"),
        "old_approval": item(DeskKind.APPROVAL, "call_2", T0 + 1 * MIN, why="delete_files"),
        "new_approval": item(DeskKind.APPROVAL, "call_3", T0 + 9 * MIN, why="delete_files"),
        "stall": item(DeskKind.STALL, "R7", T0 + 2 * MIN, session="other"),
        "answered": item(DeskKind.ESCALATION, "call_4", T0 + 3 * MIN, session="other"),
    }
    for desk_item in items.values():
        desk.put(desk_item)
    desk.put(items["answered"].resolved("answered", "ada", T0 + 5 * MIN))
    return desk, items


def test_pending_lists_oldest_first_with_ages_and_resolved_says_by_whom() -> None:
    desk, items = scenario()
    rows = desk.fold().rows(T0 + 10 * MIN)
    assert [r.item.id for r in rows.pending] == [
        items["esc"].id,
        items["old_approval"].id,  # waited 9 min, over the 5 min threshold
        items["stall"].id,
    ]
    assert [r.age_s for r in rows.pending] == [600.0, 540.0, 480.0]
    [done] = rows.resolved
    assert (done.item.resolution, done.item.resolved_by, done.age_s) == ("answered", "ada", 120.0)
    assert rows.below_threshold == {DeskKind.APPROVAL: 1}  # the 1-minute-old approval


def test_thresholds_decide_when_approvals_and_waiting_prompts_show() -> None:
    desk = Desk()
    desk.put(item(DeskKind.APPROVAL, "c", T0))
    desk.put(item(DeskKind.WAITING, "U1", T0))
    desk.put(item(DeskKind.CONTROL, "t1", T0, by="ada"))
    f = desk.fold()
    at_one_minute = f.rows(T0 + MIN)
    assert [r.item.kind for r in at_one_minute.pending] == [DeskKind.CONTROL]
    assert at_one_minute.below_threshold == {DeskKind.APPROVAL: 1, DeskKind.WAITING: 1}
    at_three = f.rows(T0 + 3 * MIN)
    assert {r.item.kind for r in at_three.pending} == {DeskKind.CONTROL, DeskKind.WAITING}
    quick = Thresholds(approval_after_s=30, waiting_after_s=30)
    assert len(f.rows(T0 + MIN, thresholds=quick).pending) == 3


def test_history_in_any_order_and_live_duplicates_fold_to_the_same_rows() -> None:
    desk, _ = scenario()
    expected = desk.fold().rows(T0 + 10 * MIN)
    shuffled = desk.messages + desk.messages[:3]
    random.Random(3).shuffle(shuffled)
    f = DeskFold({"agent"})
    f.apply_all(shuffled)
    assert f.rows(T0 + 10 * MIN) == expected


def test_a_daily_reminder_keeps_the_first_since() -> None:
    desk = Desk()
    first = item(DeskKind.ESCALATION, "c", T0)
    desk.put(first)
    desk.put(item(DeskKind.ESCALATION, "c", T0 + 24 * 60 * MIN, at=T0 + 24 * 60 * MIN))
    reminder_only = Desk()
    reminder_only.messages = desk.messages[1:]
    [row] = desk.fold().rows(T0 + 25 * 60 * MIN).pending
    assert row.item.since_ms == T0
    assert row.age_s == 25 * 3600
    # a desk whose horizon holds only the reminder still lists it
    assert len(reminder_only.fold().rows(T0 + 25 * 60 * MIN).pending) == 1


def test_open_items_of_an_agent_gone_from_the_desk_presence_are_marked() -> None:
    desk = Desk()
    desk.put(item(DeskKind.ESCALATION, "c1", T0), by="agent")
    desk.put(item(DeskKind.ESCALATION, "c2", T0 + 1, session="b"), by="agent-2")
    f = desk.fold(authorities=("agent", "agent-2"))
    rows = f.rows(T0 + MIN, agents_present={"agent"})
    assert [(r.item.agent, r.agent_offline) for r in rows.pending] == [
        ("agent", False),
        ("agent-2", True),
    ]
    assert not any(r.agent_offline for r in f.rows(T0 + MIN).pending)  # presence unknown


def test_summaries_from_anyone_but_an_agent_are_ignored() -> None:
    desk = Desk()
    desk.put(item(DeskKind.ESCALATION, "c1", T0), by="mallory")
    assert desk.fold().rows(T0).pending == ()


def test_resolved_rows_are_newest_first_and_bounded() -> None:
    desk = Desk()
    for i in range(60):
        opened = item(DeskKind.ESCALATION, f"c{i}", T0 + i)
        desk.put(opened)
        desk.put(opened.resolved("answered", "ada", T0 + 1000 + i))
    rows = desk.fold().rows(T0 + 10**6)
    assert len(rows.resolved) == 50
    assert rows.resolved[0].item.id.endswith(":c59")
    assert rows.pending == ()


def test_item_json_round_trip_and_the_publisher_comes_from_the_message() -> None:
    original = item(DeskKind.ESCALATION, "call_1", T0, by="model", run_id="R1")
    op = original.publish()
    assert op.name == DESK_ITEM and op.extras == {}
    parsed = DeskItem.from_message({"name": op.name, "data": op.data, "clientId": "agent"})
    assert parsed == DeskItem(**{**original.__dict__, "agent": "agent"})
    assert Decoder(ResponsesCodec()).decode({"serial": "s", **op.__dict__}) is None


@pytest.mark.parametrize(
    "data",
    [
        None,
        {"v": 1},
        {"v": 2, "id": "x", "kind": "stall", "state": "open", "channel": "c", "since": 1, "at": 1},
        {"v": 1, "id": "x", "kind": "fire", "state": "open", "channel": "c", "since": 1, "at": 1},
        {"v": 1, "id": "x", "kind": "stall", "state": "open", "channel": "", "since": 1, "at": 1},
        {
            "v": 1,
            "id": "x",
            "kind": "stall",
            "state": "open",
            "channel": "c",
            "since": "1",
            "at": 1,
        },
    ],
)
def test_malformed_items_are_ignored(data: object) -> None:
    assert DeskItem.from_message({"name": DESK_ITEM, "data": data, "clientId": "agent"}) is None
