"""A fake nova-api: nova's WSGI wiring in front of oslo.messaging RPC."""
