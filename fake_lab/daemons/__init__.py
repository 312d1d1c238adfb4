"""The runner's daemons: one module per daemon."""
