"""Hypothesis strategies for hostile input: JSON-ish values, protocol frames (well-formed,
mistyped and mutated), and bodies, parameters and headers for the REST endpoints."""

from __future__ import annotations

import json
from typing import Any

import msgpack
from hypothesis import strategies as st

INTS = st.integers(min_value=-(2**63), max_value=2**64 - 1)  # what msgpack can carry
SCALARS = (
    st.none()
    | st.booleans()
    | INTS
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
# msgpack can carry bytes (and large integers) where JSON cannot.
PACKABLE = st.recursive(
    SCALARS | st.binary(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)

GOOD_CHANNELS = ("session:fuzz", "session:fuzz:2", "fuzz")
BAD_CHANNELS = ("", " ", "a b", "[x]y", ":lead", "x" * 300, "session:fuzz\n")
CHANNEL = st.sampled_from(GOOD_CHANNELS) | st.sampled_from(BAD_CHANNELS) | JSONISH

ACTIONS = st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 19, 21])
MESSAGE_ACTIONS = st.sampled_from(
    [0, 1, 2, 3, 4, 5, 6, -1, "message.create", "message.append", "message.update", "nope"]
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field that is usually well-typed, sometimes any JSON value, sometimes absent."""
    return st.one_of(strategy, strategy, JSONISH)


MESSAGE = st.fixed_dictionaries(
    {},
    optional={
        "name": maybe(st.text(max_size=20)),
        "data": maybe(st.text(max_size=60) | st.dictionaries(st.text(max_size=5), SCALARS)),
        "encoding": maybe(st.sampled_from(["json", "utf-8", "base64", "json/base64", "cipher"])),
        "clientId": maybe(st.sampled_from(["fuzzer", "someone-else", "*", ""])),
        "extras": maybe(st.dictionaries(st.text(max_size=8), JSONISH, max_size=3)),
        "action": MESSAGE_ACTIONS,
        "serial": maybe(st.sampled_from(["0000000000000001", "9999999999999999", "x"])),
        "id": maybe(st.text(max_size=20)),
        "version": JSONISH,
    },
)
PRESENCE = st.fixed_dictionaries(
    {},
    optional={
        "action": maybe(st.integers(min_value=-1, max_value=6)),
        "clientId": maybe(st.sampled_from(["fuzzer", "someone-else", "*"])),
        "data": JSONISH,
        "encoding": JSONISH,
        "extras": JSONISH,
    },
)


@st.composite
def protocol_frames(draw: st.DrawFn) -> dict[str, Any]:
    """ProtocolMessage-shaped objects: a real action with plausible and implausible fields.
    msgSerial is 0 (the next one a fresh connection expects) or not a valid serial at all,
    so no frame waits in the hub's sequencing hold."""
    frame: dict[str, Any] = {"action": draw(ACTIONS | INTS | JSONISH)}
    fields = {
        "channel": CHANNEL,
        "msgSerial": st.sampled_from([0, 0, 0, -1, "0", None, 1.5, True]),
        "messages": st.lists(MESSAGE, max_size=3) | JSONISH,
        "presence": st.lists(PRESENCE, max_size=3) | JSONISH,
        "flags": maybe(st.integers(min_value=0, max_value=2**24)),
        "params": maybe(st.dictionaries(st.sampled_from(["rewind", "delta", "x"]), JSONISH)),
        "channelSerial": maybe(st.sampled_from(["0000000000000000", "9999999999999999", "z"])),
        "auth": maybe(st.fixed_dictionaries({"accessToken": JSONISH})),
        "id": JSONISH,
        "annotations": JSONISH,
    }
    for key in draw(st.sets(st.sampled_from(sorted(fields)), max_size=5)):
        frame[key] = draw(fields[key])
    return frame


def encode(frame: Any, fmt: str) -> str | bytes:
    if fmt == "msgpack":
        return msgpack.packb(frame, use_bin_type=True)
    return json.dumps(frame)


@st.composite
def mutated(draw: st.DrawFn, payloads: st.SearchStrategy[bytes]) -> bytes:
    """A valid encoding, then cut, flipped or spliced at random byte positions."""
    raw = bytearray(draw(payloads))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        op = draw(st.sampled_from(["truncate", "flip", "insert", "delete"]))
        at = draw(st.integers(min_value=0, max_value=max(0, len(raw))))
        if op == "truncate":
            del raw[at:]
        elif op == "flip" and at < len(raw):
            raw[at] ^= draw(st.integers(min_value=1, max_value=255))
        elif op == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif op == "delete":
            del raw[at : at + draw(st.integers(min_value=1, max_value=4))]
    return bytes(raw)


def wire_payloads(fmt: str) -> st.SearchStrategy[str | bytes]:
    """What one WebSocket frame may carry on a `fmt` connection: shaped frames, arbitrary
    values, raw bytes and text, and mutated encodings of real frames."""
    source = protocol_frames() if fmt == "json" else protocol_frames() | PACKABLE
    encoded = source.map(lambda f: encode(f, fmt))
    as_bytes = encoded.map(lambda p: p if isinstance(p, bytes) else p.encode())
    if fmt == "json":
        return st.one_of(
            encoded,
            JSONISH.map(json.dumps),
            st.text(max_size=200),
            mutated(as_bytes).map(lambda b: b.decode("utf-8", "replace")),
        )
    return st.one_of(encoded, st.binary(max_size=200), mutated(as_bytes))
