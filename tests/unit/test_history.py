from fake_lab import history


def test_operations_pair_invoke_and_completion(tmp_path):
    h = history.History(str(tmp_path / "h.jsonl"))
    op = h.invoke("call", name="first")
    h.event("note", x=1)
    h.complete(op, "call", history.INFO, name="first", error="timeout")
    pending = h.invoke("call", name="second")
    h.close()
    ops = history.operations(history.read(h.path))
    assert ops[op]["done"]["type"] == "info"
    assert ops[pending]["done"] is None


def test_a_torn_last_line_is_skipped(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text('{"type": "event", "t": 0, "time": 1}\n{"type": "inv')
    assert len(history.read(str(path))) == 1
