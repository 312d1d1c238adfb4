"""The compute's server actions (RPC API 1.1), as nova's compute manager
runs them: each a cast to the instance's host, which walks the action's
task_states through the conductor (each save expecting the task_state it
left, as ``instance.save(expected_task_state=...)``), does ``step_delay``
seconds of fake driver work, and ends in the action's vm_state and
power_state (fake_compute/states.py); the action's task is then completed,
or failed with the reason.

A save that finds another task_state (a hard reboot took over a soft one)
stops the action without reverting anything, as nova's
UnexpectedTaskStateError does; any other failure puts the task_state back
to None (nova's ``reverts_task_state``).
"""

import time

from oslo_log import log as logging

from fake_compute import states
from fake_service import context

LOG = logging.getLogger(__name__)


class UnexpectedTaskState(Exception):
    pass


class PowerActions:
    """Mixed into ComputeManager; needs ``host``, ``step_delay`` and
    ``conductor``."""

    @context.bind
    def reboot_instance(self, ctxt, instance_uuid, task_id, reboot_type="SOFT"):
        self._run_action(ctxt, states.action_key("reboot", reboot_type),
                         instance_uuid, task_id)

    @context.bind
    def stop_instance(self, ctxt, instance_uuid, task_id):
        self._run_action(ctxt, "stop", instance_uuid, task_id)

    @context.bind
    def start_instance(self, ctxt, instance_uuid, task_id):
        self._run_action(ctxt, "start", instance_uuid, task_id)

    @context.bind
    def pause_instance(self, ctxt, instance_uuid, task_id):
        self._run_action(ctxt, "pause", instance_uuid, task_id)

    @context.bind
    def unpause_instance(self, ctxt, instance_uuid, task_id):
        self._run_action(ctxt, "unpause", instance_uuid, task_id)

    @context.bind
    def suspend_instance(self, ctxt, instance_uuid, task_id):
        self._run_action(ctxt, "suspend", instance_uuid, task_id)

    @context.bind
    def resume_instance(self, ctxt, instance_uuid, task_id):
        self._run_action(ctxt, "resume", instance_uuid, task_id)

    def _save(self, ctxt, instance_uuid, values, expected):
        found = self.conductor.instance_update_expected(
            ctxt, uuid=instance_uuid, values=values, expected_task_state=[expected])
        if not found["updated"]:
            raise UnexpectedTaskState(
                f"Conflict updating instance {instance_uuid}. Expected: "
                f"{{'task_state': [{expected!r}]}}. Actual: "
                f"{{'task_state': {found['task_state']!r}}}")

    def _run_action(self, ctxt, key, instance_uuid, task_id):
        action = states.ACTIONS[key]
        LOG.info("%s of instance %s on %s", key, instance_uuid, self.host)
        expected = action.task_state
        try:
            for step in action.steps:
                self._save(ctxt, instance_uuid, {"task_state": step}, expected)
                expected = step
                time.sleep(self.step_delay)
            time.sleep(self.step_delay)  # the fake driver's work
            self._save(ctxt, instance_uuid, states.final_values(key), expected)
            self.conductor.task_finish(ctxt, task_id=task_id, status="completed")
            LOG.info("instance %s: %s done, %s", instance_uuid, key,
                     states.STATUS_OF_VM_STATE[action.vm_state])
        except UnexpectedTaskState as exc:
            LOG.info("%s of %s preempted: %s", key, instance_uuid, exc)
            self._finish_failed(ctxt, task_id, f"UnexpectedTaskStateError: {exc}")
        except Exception as exc:
            LOG.exception("%s of %s failed", key, instance_uuid)
            reason = f"{type(exc).__name__}: {exc}"
            try:
                self.conductor.instance_update_expected(
                    ctxt, uuid=instance_uuid, values={"task_state": None},
                    expected_task_state=[expected])
            except Exception:
                LOG.exception("could not revert the task_state of %s", instance_uuid)
            self._finish_failed(ctxt, task_id, reason)

    def _finish_failed(self, ctxt, task_id, reason):
        try:
            self.conductor.task_finish(ctxt, task_id=task_id, status="failed",
                                       reason=reason)
        except Exception:
            LOG.exception("could not record the failure of task %s", task_id)
