"""The relay's AMQP 0-9-1 framing, on frames built with py-amqp's own
serializer (what oslo.messaging's driver sends)."""

import struct

from amqp.serialization import dumps

from fake_lab.daemons import relay


def frame(ftype, channel, payload):
    return struct.pack(">BHI", ftype, channel, len(payload)) + payload + b"\xce"


def method(class_id, method_id, fmt, args):
    return struct.pack(">HH", class_id, method_id) + dumps(fmt, args)


START_OK = method(10, 11, "FsSs", [{"connection_name": "uwsgi:6243:99bd",
                                    "product": "py-amqp"}, "AMQPLAIN", b"x", "en_US"])
TUNE_OK = method(10, 31, "BlB", [2047, 131072, 1])
CLOSE = method(10, 50, "BsBB", [320, "CONNECTION_FORCED - broker forced", 0, 0])


def test_frames_are_split_however_the_bytes_arrive():
    stream = (relay.PROTOCOL_HEADER + frame(1, 0, START_OK) + frame(8, 0, b"")
              + frame(1, 0, TUNE_OK) + frame(3, 1, b"x" * 1000))
    reader = relay.FrameReader(protocol_header=True)
    frames = []
    for n in range(0, len(stream), 7):  # seven bytes at a time
        frames += reader.feed(stream[n:n + 7])
    assert [(f[0], f[1], f[2]) for f in frames] == [
        (1, 0, len(START_OK)), (8, 0, 0), (1, 0, len(TUNE_OK)), (3, 1, 1000)]
    assert frames[3][3] is None  # a body is counted, never copied
    assert reader.broken is None


def test_connection_methods_are_decoded():
    assert relay.decode_method(START_OK)[1]["connection_name"] == "uwsgi:6243:99bd"
    assert relay.decode_method(TUNE_OK)[1]["heartbeat"] == 1
    fields = relay.decode_method(CLOSE)[1]
    assert fields["reply_code"] == 320 and "forced" in fields["reply_text"]


def test_a_bad_frame_end_stops_parsing_but_says_why():
    reader = relay.FrameReader()
    bad = frame(1, 0, TUNE_OK)[:-1] + b"\x00"
    assert reader.feed(bad) == []
    assert "frame-end octet 0x0" in reader.broken
    assert reader.feed(frame(8, 0, b"")) == []


def test_another_protocol_is_not_parsed():
    reader = relay.FrameReader(protocol_header=True)
    reader.feed(b"\x16\x03\x01\x02\x00\x01\x00\x01")  # a TLS hello
    assert reader.broken.startswith("not AMQP 0-9-1")


def test_a_connection_records_heartbeats_and_traffic(tmp_path):
    wire = relay.Wire(str(tmp_path / "wire.jsonl"))
    conn = relay.Connection(1, wire, ("127.0.0.1", 5000))
    conn.observe("c2s", relay.PROTOCOL_HEADER + frame(1, 0, START_OK))
    conn.observe("c2s", frame(8, 0, b""))
    conn.observe("s2c", frame(1, 0, CLOSE))
    conn.end("fin", "client")
    import json
    events = [json.loads(line) for line in open(tmp_path / "wire.jsonl")]
    kinds = [e["event"] for e in events]
    assert kinds[:2] == ["connection-name", "heartbeat"]
    assert {"close", "traffic", "end"} <= set(kinds)
    close = next(e for e in events if e["event"] == "close")
    assert close["by"] == "server" and close["reply_code"] == 320
