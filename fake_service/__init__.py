"""What the fake services and the lab share: options, RPC, patching, brokers."""
