"""The engine: what runs workflows, as opposed to what workflow authors write.

Authors import from `runtime` (decorators, sleep, hooks, streams, metadata, errors, `start`);
Worlds, entry points and tools reach in here for the function host (`engine.host`), the event
model (`engine.events`), the run codec (`engine.codec`) and the run-level writes
(`engine.lifecycle`). Nothing is re-exported: import the module that owns a name.
"""
