"""Decide the concurrency mode once, before anything else is imported.

Mirrors nova/monkey_patch.py (2026.2): every entry point calls ``patch()``
on its first line, and one environment variable per process,
``OS_NOVA_DISABLE_EVENTLET_PATCHING``, picks the mode: ``true`` (or 1, yes)
native threading, any other value eventlet. Unset, the service's default
applies: threading, as nova 34.0.0 (2026.2) has it for nova-api,
nova-scheduler, nova-conductor and nova-compute. The lab always sets it, per
process, from ``[lab] executor`` and its per-service overrides.

As nova does, eventlet mode monkey-patches and then selects oslo.service's
eventlet backend; threading mode selects the threading backend (cotyledon
and futurist) and poisons ``eventlet.monkey_patch`` so that nothing can
patch the process later. With an oslo.service older than its backends (a
release venv pinned to an old series) there is no backend to select, and
``describe()`` says so.
"""

import os

ENV = "OS_NOVA_DISABLE_EVENTLET_PATCHING"
BACKENDS = ("eventlet", "threading")
DEFAULT = "threading"  # nova 2026.2's default for the four services faked here

_patched = None
_backend_note = None


def value_for(mode):
    """The environment variable's value that asks for ``mode``."""
    return {"threading": "true", "eventlet": "false"}[mode]


def backend(default=DEFAULT):
    """The mode the environment asks for (nova's reading of the variable)."""
    value = os.environ.get(ENV, "").strip().lower()
    if value == "":
        return default
    return "threading" if value in ("1", "true", "yes") else "eventlet"


def patch(default=DEFAULT):
    """Monkey-patch with eventlet, or not, as asked; select oslo.service's
    backend to match. Idempotent; returns whether it patched."""
    global _patched, _backend_note
    if _patched is not None:
        return _patched
    if backend(default) == "eventlet":
        import eventlet

        eventlet.monkey_patch()
        _patched = True
        _backend_note = _init_backend("EVENTLET")
    else:
        _patched = False
        _backend_note = _init_backend("THREADING")
        _poison_eventlet()
    return _patched


def patch_or_error(default=DEFAULT):
    """``patch()`` for an entry point's first line: None when done, else the
    one line to report once the program can print (the threading backend
    cannot be loaded, for one)."""
    try:
        patch(default)
    except Exception as exc:  # the one line, never a traceback
        return f"cannot start in {backend(default)} mode: {exc}"
    return None


def _init_backend(name):
    try:
        import oslo_service.backend as service
    except ImportError:
        return "this oslo.service predates its backends: none selected"
    if name == "THREADING":
        try:
            import cotyledon  # noqa: F401
        except ImportError:  # oslo.service would call the backend "unknown"
            raise ImportError("the threading backend needs cotyledon "
                              "(oslo.service[threading]), not installed")
    # Raises BackendAlreadySelected if another mode was chosen first, as
    # nova lets it: a process must not run half in each mode.
    service.init_backend(getattr(service.BackendType, name))
    return None


def _poison(*args, **kwargs):
    raise RuntimeError(
        f"the service runs on native threads ({ENV}="
        f"{os.environ.get(ENV, '')!r}) but something called "
        "eventlet.monkey_patch(): a bug")


def _poison_eventlet():
    try:
        import eventlet
        import eventlet.patcher
    except ImportError:
        return
    eventlet.monkey_patch = _poison
    eventlet.patcher.monkey_patch = _poison


def is_patched():
    """True when this process really runs on eventlet's green threads."""
    try:
        from eventlet import patcher
    except ImportError:
        return False
    return patcher.is_monkey_patched("thread")


def describe():
    """What this process really runs with, for its start-up line: the
    variable as set, the mode asked, whether eventlet patched it, the
    oslo.service backend selected, and the versions."""
    from importlib import metadata

    def version(dist):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "none"

    try:
        import oslo_service.backend as service

        selected = service.get_backend_type()
        selected = selected.value if selected is not None else "none"
    except ImportError:
        selected = "none"
    raw = os.environ.get(ENV)
    return {"env": "unset" if raw is None else raw, "asked": backend(),
            "patched": is_patched(), "backend": selected,
            "oslo.service": version("oslo.service"),
            "oslo.messaging": version("oslo.messaging"),
            "note": _backend_note}


def startup_line(program):
    """One line a checker can parse (checkers/concurrency.py)."""
    d = describe()
    line = (f"concurrency: program={program} pid={os.getpid()} {ENV}={d['env']} "
            f"asked={d['asked']} eventlet_patched={d['patched']} "
            f"backend={d['backend']} oslo.service={d['oslo.service']} "
            f"oslo.messaging={d['oslo.messaging']}")
    return line + (f" ({d['note']})" if d["note"] else "")
