"""Compiled bytecode for the deployment zip, so a cold Lambda instance does not compile.

Lambda unpacks the zip into a read-only /var/task: a module without a `.pyc` there is
compiled from source on every cold start and the result thrown away, for steplane's own ~100
modules and the vendored ones (cryptography, starlette). Measured with `bench.cold_start_aws
--bytecode source` against `--bytecode cached` (docs/performance.md, "Cold start"): compiling
is the largest single cost of a cold start.

Each `.py` gets `__pycache__/<stem>.<tag>.pyc` beside it, compiled with the invalidation
mode "unchecked-hash": valid whatever the files' timestamps (the zip's are fixed at 1980), and
as deterministic as the sources, so the same sources still give the same zip and the same
hash. Only when this interpreter is the runtime's Python (`cache_tag` "cpython-311" for
python3.11): another version's bytecode would be ignored there. Compiled files are cached by
the source's hash under `<cache>/pyc`, so a rebuild compiles only what changed.
"""

from __future__ import annotations

import hashlib
import py_compile
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath


def cache_tag(runtime: str) -> str:
    """The bytecode tag of a Lambda runtime ("python3.11" -> "cpython-311")."""
    major, _, minor = runtime.removeprefix("python").partition(".")
    return f"cpython-{major}{minor}"


def with_bytecode(files: Mapping[str, Path], runtime: str, cache: Path) -> dict[str, Path | bytes]:
    """`files` (zip name -> source file) plus a `.pyc` for each `.py` among them, when this
    interpreter compiles for `runtime`; else `files` unchanged."""
    found: dict[str, Path | bytes] = dict(files)
    tag = cache_tag(runtime)
    if sys.implementation.cache_tag != tag:
        return found
    for name, path in files.items():
        if not name.endswith(".py"):
            continue
        pure = PurePosixPath(name)
        target = str(pure.parent / "__pycache__" / f"{pure.stem}.{tag}.pyc")
        if target not in files and (compiled := _compiled(name, path, cache)) is not None:
            found[target] = compiled
    return found


def _compiled(name: str, path: Path, cache: Path) -> bytes | None:
    """The bytecode of `path`, named `/var/task/<name>` in tracebacks; None for a file that
    does not compile (left to fail, as before, when it is imported)."""
    source = path.read_bytes()
    key = hashlib.sha256(name.encode() + b"\0" + source).hexdigest()
    cached = cache / sys.implementation.cache_tag / f"{key}.pyc"
    if cached.exists():
        return cached.read_bytes()
    cached.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cached.parent) as scratch:
        output = Path(scratch) / "out.pyc"
        try:
            py_compile.compile(
                str(path),
                cfile=str(output),
                dfile=f"/var/task/{name}",
                doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
        except py_compile.PyCompileError:
            return None
        data = output.read_bytes()
        output.replace(cached)
    return data
