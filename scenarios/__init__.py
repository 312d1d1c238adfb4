"""The lab's scenarios and the machinery that runs and judges them.

A scenario is data (a TOML file in this folder): its configuration, its
workload, and the name of the checker that judges it. ``runner`` plays it
against a private broker, ``history`` records what happened, ``evidence``
reads the logs, and ``checkers`` turn both into a verdict.
"""
