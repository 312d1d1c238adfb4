"""The workload: client operations, the generator that plays a scenario's steps, the nemesis."""
