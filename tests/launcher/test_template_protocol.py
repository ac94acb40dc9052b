"""The template channel's framing: what a peer can and cannot make the template parse."""

from __future__ import annotations

import pytest

from chatgate.forkserver import protocol


def test_a_frame_round_trips_and_reports_its_size() -> None:
    frame = protocol.encode_frame({"token": "t", "env": {"A": "1"}})
    assert protocol.split_frame(frame + b"rest") == ({"token": "t", "env": {"A": "1"}}, len(frame))


@pytest.mark.parametrize("cut", [0, 1, 3, 4, 10])
def test_a_partial_frame_asks_for_more(cut: int) -> None:
    frame = protocol.encode_frame({"token": "t" * 20})
    assert protocol.split_frame(frame[:cut]) is None


@pytest.mark.parametrize(
    "raw",
    [
        protocol.HEADER.pack(protocol.MAX_FRAME_BYTES + 1),
        protocol.HEADER.pack(3) + b"{x}",
        protocol.HEADER.pack(2) + b"[]",
        protocol.HEADER.pack(2) + b"\xff\xfe",
    ],
    ids=["oversized", "not-json", "not-an-object", "not-utf8"],
)
def test_malformed_frames_are_refused(raw: bytes) -> None:
    with pytest.raises(protocol.ProtocolError):
        protocol.split_frame(raw)


def test_an_oversized_payload_is_not_encoded() -> None:
    with pytest.raises(protocol.ProtocolError):
        protocol.encode_frame({"env": {"X": "x" * protocol.MAX_FRAME_BYTES}})
