"""report.html of a real headline run, opened in a real headless browser:
the timeline renders (plotly's SVG exists once its JavaScript ran, with no
network), it shows the broker closing the API worker's connections, and the
browser's console stays empty."""

import os
import re
import shutil
import subprocess
import time

import pytest

from fake_lab import timeline
from fake_lab.rundir import RunDir

BROWSERS = ("chromium", "chromium-browser")


@pytest.fixture(scope="module")
def browser():
    found = next(filter(None, map(shutil.which, BROWSERS)), None)
    if not found:
        reason = "chromium not installed (run tools/setup.sh)"
        if os.environ.get("FAKE_LAB_REQUIRE_ALL") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def open_page(browser, path, profile):
    """(the DOM once the page's scripts ran, the console's messages)."""
    proc = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu",
         "--no-first-run", f"--user-data-dir={profile}",
         # Every console message (log, warning, error, an uncaught
         # exception) is one ":CONSOLE" line on stderr.
         "--enable-logging=stderr",
         "--virtual-time-budget=10000", "--dump-dom", "file://" + path],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return proc.stdout, console


def test_the_console_check_sees_errors(browser, tmp_path):
    """The check below is not vacuous: a page that throws is caught."""
    page = tmp_path / "broken.html"
    page.write_text("<!doctype html><script>throw new Error('on purpose')</script>")
    _, console = open_page(browser, str(page), tmp_path / "profile")
    assert any("on purpose" in line for line in console), console


def test_report_html_renders_the_timeline_of_a_real_run(lab, browser, tmp_path):
    proc = lab.run("run", "heartbeat-loss")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = lab.result()
    assert result["verdict"] == "reproduced", result
    api_pid = result["details"]["api_pid"]
    path = os.path.join(lab.latest, "report.html")
    assert os.path.exists(path)
    assert "report.html" in open(os.path.join(lab.latest, "report.md")).read()

    dom, console = open_page(browser, path, tmp_path / "profile")
    assert console == [], "\n".join(console)
    # Plotly ran: the div is a plot, with its SVG and traces.
    assert re.search(r'<div id="timeline" class="[^"]*js-plotly-plot', dom), dom[:2000]
    assert 'class="main-svg"' in dom
    assert len(re.findall(r'<g class="trace (?:bars|scatter)', dom)) >= 5
    plot = dom[dom.index('<div id="timeline"'):]
    # The worker's band, and the broker's close of its connection written
    # at the close's place on the plot.
    assert f"fake-nova-api PID {api_pid} (the API worker" in plot
    closes = re.findall(r"<text[^>]*>broker closed (uwsgi:(\d+):[0-9a-f]{8}): "
                        r"missed heartbeats from client</text>", plot)
    assert closes and {int(pid) for _, pid in closes} == {api_pid}, closes
    # ... on the row of that connection.
    ticks = re.findall(r'data-unformatted="([^"]*)"', plot)
    for name, _ in closes:
        assert any(t.startswith(name) for t in ticks), (name, ticks)
    # The requests, with their latencies.
    assert re.search(r">first-request 0\.\d+ s<", plot)
    assert re.search(r">second-request \d\.\d+ s<", plot)

    # Its cost, written again from the run directory (printed with -s).
    started = time.monotonic()
    assert timeline.write(RunDir(lab.latest), result) == path
    took = time.monotonic() - started
    size = os.path.getsize(path)
    print(f"report.html: {size} bytes, written in {took:.3f} s")
    assert size < 10_000_000 and took < 10
