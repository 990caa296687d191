"""The engine: what runs workflows, as opposed to what workflow authors write.

Authors import from `runtime` (decorators, sleep, hooks, streams, metadata, errors, `start`).
Worlds, entry points and tools reach in here for the function host (`host`), the event model
and its schema (`events`), the run codec (`codec`), the run-level writes (`lifecycle`) and
recovery (`recovery`). The invocations depend on the host only through the narrow interfaces
in `services`. Nothing is re-exported: import the module that owns a name.
"""
