"""The Worlds this package provides, by the names `STEPLANE_WORLD` knows them by.

An installed steplane declares them as `steplane.worlds` entry points (pyproject.toml, kept
equal to `WORLDS` by a test), which is how `runtime` finds them without naming them. Where the
distribution's metadata is absent (the Lambda zip, a source checkout) the entry points that
build Worlds from the environment (lambda_handler, the CLI) call `register()` first. The
factories are `module:factory` strings: registering imports no World (nor boto3).
"""

from steplane.runtime.world_registry import register_world

WORLDS = {
    "memory": "steplane.adapters.memory:MemoryWorld",
    "aws": "steplane.adapters.aws:world_from_env",
}


def register() -> None:
    """Register every World of `WORLDS` in this process (idempotent)."""
    for name, factory in WORLDS.items():
        register_world(name, factory)
