"""The parts of ``fake-lab bench`` (fake_lab/commands/bench.py): the measured
processes (workers), what their answers add up to (figures), the tables
and the page (tables)."""
