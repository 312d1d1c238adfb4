"""pool-expiry and its control, for real: a burst opens four pooled
connections of the API worker, it idles past conn_pool_ttl, then one more
request. Asserted per connection from the run directory, not only the
verdict: the order "given back, ttl ran out, expired at the next get()"."""

import json

from fake_lab.checkers import evidence
from fake_lab.rundir import RunDir


def _pool_order(run_dir, ttl):
    """Per expired connection: (given back, ttl ran out, expired), and the
    next request's start, from the API's own lines and the history."""
    run = RunDir(run_dir)
    events = [e for e in evidence.client_events(
        run.log("fake-nova-api"), evidence.CLIENT_MARKERS + evidence.POOL_MARKERS)
        if e["kind"] == "pool"]
    put = {}
    expired = {}
    for e in events:
        if e["action"] == "put" and e["name"] not in expired:
            put.setdefault(e["name"], e["time"])
        elif e["action"] == "expire":
            expired[e["name"]] = e["time"]
    return [(put[name], put[name] + ttl, when) for name, when in expired.items()]


def _next_request_began(run_dir):
    with open(RunDir(run_dir).history) as f:
        for line in f:
            rec = json.loads(line)
            if rec["type"] == "invoke" and rec["value"].get("name") == "next-request":
                return rec["time"]
    raise AssertionError("no next-request in the history")


def test_eventlet_pool_hands_out_a_connection_the_broker_closed(lab):
    proc = lab.run("run", "pool-expiry", "--expect", "reproduced", timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = lab.result()
    text = "\n".join(result["evidence"])
    assert "missed heartbeats from client" in text
    assert result["details"]["lazy"] is True and result["details"]["pooled"] == 4
    began = _next_request_began(lab.latest)
    order = _pool_order(lab.latest, ttl=2)
    assert len(order) == 2  # four pooled, one handed out, one kept (min size 1)
    for given_back, due, expired in order:
        assert given_back < due < began <= expired  # lazy: at the next get()
    assert lab.leftovers() == []


def test_threading_pool_hands_out_a_live_connection(lab):
    proc = lab.run("run", "pool-expiry", "--control", timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = lab.result()
    assert result["verdict"] == "not-reproduced", result["evidence"]
    began = _next_request_began(lab.latest)
    for given_back, due, expired in _pool_order(lab.latest, ttl=2):
        assert given_back < due < began <= expired
    assert "the wire shows the client's Connection.Close" in "\n".join(result["evidence"])
    assert lab.leftovers() == []
