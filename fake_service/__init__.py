"""What the fake services and the lab share: options, RPC, patching, brokers."""


def version_of(distribution):
    """The installed version of a distribution, or '?'."""
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "?"
