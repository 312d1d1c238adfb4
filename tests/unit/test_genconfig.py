"""etc/fake-lab.conf.sample is generated (tox -e genconfig), never hand-written:
every option of the lab must be in it, under its own group, as the generator
writes it, and nothing the lab no longer has may linger in the lab's groups."""

import os
import re

from fake_service import conf

SAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "etc",
                      "fake-lab.conf.sample")

# The lab's own groups: every commented option under these headers must be
# one of list_opts(). (The sample's other groups are oslo.messaging's.)
LAB_GROUPS = ("lab", "api", "compute", "uwsgi", "database", "workload")

HEADER = re.compile(r"^\[([^\]]+)\]\s*$")
# What the generator writes for an option: "#name = default" (or "#name ="
# for an empty default); help text is "# ..." with a space.
OPTION = re.compile(r"^#([A-Za-z0-9_]+) =(?: |$)")


def parse(lines):
    """{group: [option, ...]}: each ``[group]`` header, then the commented
    option lines under it, in order."""
    sections = {}
    group = None
    for line in lines:
        header = HEADER.match(line)
        if header:
            group = header.group(1)
            sections.setdefault(group, [])
            continue
        option = OPTION.match(line)
        if option:
            assert group is not None, f"option before any group: {line!r}"
            sections[group].append(option.group(1))
    return sections


def problems(sections):
    """What makes ``sections`` disagree with list_opts(); [] when none."""
    found = []
    wanted = {group: [opt.dest for opt in opts] for group, opts in conf.list_opts()}
    for group, names in wanted.items():
        listed = sections.get(group)
        if listed is None:
            found.append(f"[{group}] has no header")
            continue
        for name in names:
            if listed.count(name) != 1:
                elsewhere = sorted(g for g, opts in sections.items() if name in opts)
                found.append(f"[{group}] {name} listed {listed.count(name)} "
                             f"time(s) under its group (found under {elsewhere})")
    # [DEFAULT] is shared with oslo.log and oslo.messaging: only the lab's
    # own options are looked for there, not the absence of others.
    for group in sorted((set(LAB_GROUPS) | set(wanted)) - {"DEFAULT"}):
        for name in sections.get(group, []):
            if name not in wanted.get(group, []):
                found.append(f"[{group}] {name} is in the sample but not in "
                             "list_opts()")
    return found


def _sample():
    with open(SAMPLE) as f:
        return parse(f.read().splitlines())


def test_the_sample_lists_every_lab_option_under_its_own_group_and_no_other():
    assert problems(_sample()) == [], "stale sample: run tox -e genconfig"


def test_the_parser_finds_the_groups_the_sample_has():
    sections = _sample()
    # oslo.messaging's groups are parsed too (and left alone by problems()).
    assert "transport_url" in sections["DEFAULT"]
    assert "heartbeat_timeout_threshold" in sections["oslo_messaging_rabbit"]
    assert "executor" in sections["lab"] and "executor" not in sections["compute"]


def test_a_moved_or_stale_option_is_caught():
    sections = {group: list(names) for group, names in _sample().items()}
    sections["lab"].remove("executor")
    sections["compute"].append("executor")  # moved group
    sections["uwsgi"].append("harakiri")  # an option the lab does not have
    del sections["database"]  # a whole group gone
    found = "\n".join(problems(sections))
    assert "[lab] executor listed 0 time(s) under its group (found under ['compute'])" in found
    assert "[compute] executor is in the sample but not in list_opts()" in found
    assert "[uwsgi] harakiri is in the sample but not in list_opts()" in found
    assert "[database] has no header" in found
