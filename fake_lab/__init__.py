"""The runner of the fake-service lab: the ``fake-lab`` command.

    cli.py         the command line (``fake-lab``)
    runner.py      one run: prepare, start the lab, play, stop, judge
    lab.py         the running lab of one run (broker, services, API)
    rundir.py      the run directory; history.py its history; report.py
    settings.py    the run's oslo.config files; catalogue.py the scenarios
    daemons/       one file per daemon: processes, reaper, RabbitMQ, WSGI
                   containers, release venvs
    workload/      client operations, the generator, the nemesis
    checkers/      one module per checker, and the log parsers they share
    commands/      commands built on runs: matrix, bisect, soak, up, trace

Nothing here is imported by the fake services (fake_service, fake_compute,
fake_nova_api): they run inside the processes under test.
"""
