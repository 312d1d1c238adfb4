"""The nemesis: faults injected into a running lab, as timed workload steps.

A fault is a target plus a verb (os-faults' model). Each is recorded in the
history as an event with its time, so a checker can line it up with what
the clients saw. Today's verb is ``stop-service`` (a fake service goes
away, e.g. a compute host); more verbs come with the relay.
"""


class Nemesis:
    def __init__(self, lab, history, say=print):
        self.lab, self.history, self.say = lab, history, say

    def stop_service(self, step):
        """Stop one fake service (e.g. ``fake-compute-2``) by name."""
        self.lab.stop_service(step["service"])
        self.history.event("service-stopped", service=step["service"])
        self.say(f"  stopped {step['service']}")


# Workload ops that are faults: op name -> Nemesis method.
FAULTS = {"stop-service": Nemesis.stop_service}
