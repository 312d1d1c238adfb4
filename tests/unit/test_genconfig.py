"""etc/fake-lab.conf.sample is generated (tox -e genconfig), never hand-written:
every option of the lab must be in it, as the generator writes it."""

import os

from fake_service import conf

SAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "etc",
                      "fake-lab.conf.sample")


def test_the_sample_holds_every_lab_option():
    with open(SAMPLE) as f:
        text = f.read()
    for group, opts in conf.list_opts():
        assert f"[{group}]" in text
        for opt in opts:
            assert f"#{opt.dest} = " in text, f"[{group}] {opt.dest}: run tox -e genconfig"
