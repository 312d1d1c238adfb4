"""Fake nova services: RPC servers with fake work instead of a hypervisor."""
