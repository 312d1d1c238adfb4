"""Nova's instance states and the server actions' state machine, pure data
and functions (no RPC, no database), shared by the API, the conductor and the
compute.

The database keeps nova's ``status`` of the stable state (``ACTIVE``,
``SHUTOFF``, ``PAUSED``, ``SUSPENDED``, ``BUILD``, ``ERROR``, ``DELETED``),
from which the ``vm_state`` follows one to one; the status a client sees is
derived from the vm_state and the task_state as nova's API derives it
(nova/api/openstack/common.py ``_STATE_MAP``: ``REBOOT`` and
``HARD_REBOOT`` while an active server reboots).

Each action is checked as nova/compute/api.py checks it
(``check_instance_state``: the vm_state first, then the task_state), and a
wrong state is nova's 409 with nova's words
(``raise_http_conflict_for_instance_invalid_state``).
"""

import collections

# vm_state <-> the status stored (nova: vm_states and _STATE_MAP's defaults)
ACTIVE, BUILDING, STOPPED = "active", "building", "stopped"
PAUSED, SUSPENDED, ERROR, DELETED = "paused", "suspended", "error", "deleted"
STATUS_OF_VM_STATE = {ACTIVE: "ACTIVE", BUILDING: "BUILD", STOPPED: "SHUTOFF",
                      PAUSED: "PAUSED", SUSPENDED: "SUSPENDED", ERROR: "ERROR",
                      DELETED: "DELETED"}
VM_STATE_OF_STATUS = {v: k for k, v in STATUS_OF_VM_STATE.items()}

# nova's task_states of these actions
REBOOTING, REBOOT_PENDING, REBOOT_STARTED = (
    "rebooting", "reboot_pending", "reboot_started")
REBOOTING_HARD, REBOOT_PENDING_HARD, REBOOT_STARTED_HARD = (
    "rebooting_hard", "reboot_pending_hard", "reboot_started_hard")
PAUSING, UNPAUSING, SUSPENDING, RESUMING = (
    "pausing", "unpausing", "suspending", "resuming")
POWERING_OFF, POWERING_ON = "powering-off", "powering-on"
# task_states.ALLOW_REBOOT: a hard reboot may interrupt these
ALLOW_REBOOT = frozenset({None, REBOOTING, REBOOT_PENDING, REBOOT_STARTED,
                          RESUMING, REBOOTING_HARD, UNPAUSING, PAUSING,
                          SUSPENDING})
SOFT_REBOOT_STATES = (REBOOTING, REBOOT_PENDING, REBOOT_STARTED)
HARD_REBOOT_STATES = (REBOOTING_HARD, REBOOT_PENDING_HARD, REBOOT_STARTED_HARD)

# nova's power_state names (the database) and numbers (the API)
POWER_STATES = {"NOSTATE": 0, "Running": 1, "Paused": 3, "Shutdown": 4,
                "Crashed": 6, "Suspended": 7}

Action = collections.namedtuple("Action", (
    "name",          # the action as nova's 409 names it, and the task's kind
    "vm_states",     # allowed vm_states
    "task_states",   # allowed task_states
    "task_state",    # what the API sets before the cast
    "method",        # the compute's RPC method (a cast)
    "steps",         # the task_states the compute walks through
    "vm_state",      # the vm_state it ends in
    "power_state"))  # and the power_state

ACTIONS = {
    "reboot-soft": Action("reboot", frozenset({ACTIVE}), frozenset({None}),
                          REBOOTING, "reboot_instance",
                          (REBOOT_PENDING, REBOOT_STARTED), ACTIVE, "Running"),
    "reboot-hard": Action("reboot", frozenset({ACTIVE, STOPPED, PAUSED, SUSPENDED,
                                               ERROR}), ALLOW_REBOOT,
                          REBOOTING_HARD, "reboot_instance",
                          (REBOOT_PENDING_HARD, REBOOT_STARTED_HARD), ACTIVE,
                          "Running"),
    "stop": Action("stop", frozenset({ACTIVE, ERROR}), frozenset({None}),
                   POWERING_OFF, "stop_instance", (), STOPPED, "Shutdown"),
    "start": Action("start", frozenset({STOPPED}), frozenset({None}),
                    POWERING_ON, "start_instance", (), ACTIVE, "Running"),
    "pause": Action("pause", frozenset({ACTIVE}), frozenset({None}),
                    PAUSING, "pause_instance", (), PAUSED, "Paused"),
    "unpause": Action("unpause", frozenset({PAUSED}), frozenset({None}),
                      UNPAUSING, "unpause_instance", (), ACTIVE, "Running"),
    # libvirt suspends by a managed save: the domain is shut off
    "suspend": Action("suspend", frozenset({ACTIVE}), frozenset({None}),
                      SUSPENDING, "suspend_instance", (), SUSPENDED, "Shutdown"),
    "resume": Action("resume", frozenset({SUSPENDED}), frozenset({None}),
                     RESUMING, "resume_instance", (), ACTIVE, "Running"),
}

# POST /servers/<id>/action: the body's key -> the action (reboot by type)
BODY_KEYS = {"reboot": None, "os-stop": "stop", "os-start": "start",
             "pause": "pause", "unpause": "unpause", "suspend": "suspend",
             "resume": "resume"}
REBOOT_TYPES = ("HARD", "Hard", "hard", "SOFT", "Soft", "soft")


class InvalidState(Exception):
    """nova's InstanceInvalidState: ``attr`` is vm_state or task_state."""

    def __init__(self, action, server_id, attr, state):
        self.action, self.server_id, self.attr, self.state = (
            action, server_id, attr, state)
        super().__init__(conflict_message(action, server_id, attr, state))


def conflict_message(action, server_id, attr, state):
    """nova's raise_http_conflict_for_instance_invalid_state wording."""
    return (f"Cannot '{action}' instance {server_id} while it is in "
            f"{attr} {state}")


def vm_state(status):
    return VM_STATE_OF_STATUS.get(status, BUILDING)


def display_status(status, task_state):
    """The status a client sees (nova's _STATE_MAP for these actions)."""
    if vm_state(status) == ACTIVE:
        if task_state in SOFT_REBOOT_STATES:
            return "REBOOT"
        if task_state in HARD_REBOOT_STATES:
            return "HARD_REBOOT"
    return status


def action_key(name, reboot_type=None):
    """``reboot`` with its type, or any other action's name."""
    if name == "reboot":
        return "reboot-hard" if str(reboot_type).upper() == "HARD" else "reboot-soft"
    if name not in ACTIONS:
        raise KeyError(name)
    return name


def check(key, server_id, status, task_state):
    """Raise InvalidState unless ``key`` may start from this state, as
    check_instance_state does: vm_state first, then task_state."""
    action = ACTIONS[key]
    current = vm_state(status)
    if current not in action.vm_states:
        raise InvalidState(action.name, server_id, "vm_state", current)
    if task_state not in action.task_states:
        raise InvalidState(action.name, server_id, "task_state", task_state)


def final_values(key):
    """The instance's columns once the compute has done ``key``."""
    action = ACTIONS[key]
    return {"status": STATUS_OF_VM_STATE[action.vm_state], "task_state": None,
            "power_state": action.power_state}


def allowed_actions(status, task_state):
    """The actions (keys) allowed from a state, for tests and tools."""
    allowed = []
    for key in ACTIONS:
        try:
            check(key, "-", status, task_state)
        except InvalidState:
            continue
        allowed.append(key)
    return allowed
