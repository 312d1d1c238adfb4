import pytest

from fake_lab.commands import matrix
from fake_lab.daemons import pyenvs
from fake_lab.errors import UsageError


def test_parse_axes_accepts_known_axes_and_values():
    axes = matrix.parse_axes(["container=uwsgi,mod_wsgi", "executor=eventlet",
                              "heartbeat-rate=2,3", "release=17,installed"])
    assert axes == {"container": ["uwsgi", "mod_wsgi"], "executor": ["eventlet"],
                    "heartbeat_rate": ["2", "3"], "release": ["17", "installed"]}


def test_the_clients_retry_is_an_axis():
    assert matrix.parse_axes(["retry=off,key,no-key", "retry-interval=0.25"]) == {
        "retry": ["off", "key", "no-key"], "retry_interval": ["0.25"]}


@pytest.mark.parametrize("spec, needle", [
    ("colour=red", "unknown axis 'colour'"),
    ("executor=gevent", "'gevent' is not one of"),
    ("heartbeat_rate=fast", "axis heartbeat_rate: 'fast'"),
    # Every axis is checked by its option's own type (choices, bounds).
    ("queue_type=nope", "Valid values are .classic, mirrored, quorum."),
    ("service_workers=0", "greater than or equal to 1"),
    ("api_pair=maybe", "axis api_pair: 'maybe'"),
    ("executor", "expected NAME=V1,V2"),
    ("deps=frozen", "'frozen' is not one of"),
    ("retry=maybe", "'maybe' is not one of"),
])
def test_parse_axes_refuses_bad_input(spec, needle):
    with pytest.raises(UsageError, match=needle):
        matrix.parse_axes([spec])


RULES = matrix.expectations("heartbeat-loss")


@pytest.mark.parametrize("cell, expected", [
    # A cell names each role's resolved mode (Matrix.prepare): the API's decides.
    ({"executor": "threading", "api_executor": "threading", "container": "uwsgi"},
     "not-reproduced"),
    ({"executor": "eventlet", "api_executor": "threading", "container": "uwsgi"},
     "not-reproduced"),
    ({"executor": "threading", "api_executor": "eventlet", "container": "uwsgi"},
     "reproduced"),
    ({"executor": "eventlet", "container": "eventlet-wsgi"}, "not-reproduced"),
    ({"executor": "eventlet", "container": "uwsgi",
      "heartbeat_in_pthread": "true"}, "not-reproduced"),
    ({"executor": "eventlet", "container": "mod_wsgi",
      "heartbeat_in_pthread": "false"}, "reproduced"),
    ({"executor": "eventlet", "container": "uwsgi"}, "reproduced"),
])
def test_expectations_follow_the_bug_catalogue(cell, expected):
    cell = dict(cell, api_executor=cell.get("api_executor", cell["executor"]))
    assert matrix.expect_for(RULES, cell)[0] == expected


@pytest.mark.parametrize("version, expected", [
    ("12.14.0", "reproduced"), ("14.0.2", "reproduced"), ("14.0.3", "not-reproduced"),
    ("14.1.0", "reproduced"), ("14.2.2", "reproduced"), ("14.2.3", "not-reproduced"),
    ("14.3.0", "not-reproduced"), ("17.3.2", "not-reproduced"),
])
def test_heartbeat_in_pthread_follows_the_lp2009138_fix(version, expected):
    # The rule the lab's runs settled: the release a cell really imported,
    # whatever its axis said ("installed", "14", or exact).
    cell = {"executor": "eventlet", "api_executor": "eventlet", "container": "uwsgi",
            "release": "installed", "heartbeat_in_pthread": "true",
            "release_version": version}
    assert matrix.expect_for(RULES, cell)[0] == expected
    cell["container"] = "eventlet-wsgi"
    assert matrix.expect_for(RULES, cell)[0] == "not-reproduced"


def test_agreement_says_disagreement_loudly():
    cell = {"status": "ran", "verdict": "reproduced", "expected": "not-reproduced"}
    assert matrix._agreement(cell) == matrix.DISAGREES
    cell["verdict"] = "not-reproduced"
    assert matrix._agreement(cell) == matrix.AGREES
    assert matrix._agreement({"status": "unavailable"}) == matrix.NOT_RUN


def test_tables_link_every_cell_and_flag_disagreements():
    cells = [
        {"id": "a", "axes": {"executor": "eventlet"}, "status": "ran",
         "verdict": "reproduced", "expected": "not-reproduced",
         "agreement": matrix.DISAGREES, "run_dir": "cells/a",
         "imported": {"oslo.messaging": "18.3.1"}},
        {"id": "b", "axes": {"executor": "threading"}, "status": "unavailable",
         "reason": "pip: ERROR: No matching distribution", "expected": None,
         "agreement": matrix.NOT_RUN},
    ]
    summary = {"scenario": "heartbeat-loss", "axes": {"executor": []},
               "seconds": 1.0, "cells": cells, "disagreements": ["a"]}
    md = matrix.render_md(summary)
    assert "DISAGREE" in md and "(cells/a/report.md)" in md
    assert "unavailable: pip: ERROR: No matching distribution" in md
    assert "oslo.messaging 18.3.1" in md
    page = matrix.render_html(summary)
    assert 'href="cells/a/report.html"' in page and "#f99" in page
    assert 'href="cells/a/report.md"' in page


def test_series_of_picks_the_series_pinning_the_closest_release():
    assert pyenvs.series_of("17.3.2")[0] == "2026.1"
    assert pyenvs.series_of("14.7.2")[0] == "2024.1"
    assert pyenvs.series_of("12.13.3")[0] == "yoga"
    assert pyenvs.series_of("1.0.0") is None
