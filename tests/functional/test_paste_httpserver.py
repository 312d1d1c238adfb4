"""paste.httpserver as the API's container (seed 002): in an idle
eventlet-patched process its green heartbeat threads still run."""


def test_idle_patched_paste_httpserver_keeps_green_heartbeats(lab):
    proc = lab.run("run", "heartbeat-loss", "--container", "paste-httpserver",
                   "--expect", "not-reproduced", timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = "\n".join(lab.result()["evidence"])
    assert "(green threads)" in text and "paste_server.py:" in text
    assert lab.leftovers() == []
