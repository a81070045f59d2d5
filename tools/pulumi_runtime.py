"""The one place the mock engine touches Pulumi SDK internals, and why.

`pulumi.runtime.set_mocks` and `pulumi.runtime.run_in_stack` are public, but nothing public runs a
whole program more than once in a process: each run leaves its pending output tasks behind in
the SDK's settings, bound to the event loop of that run, and the next run would wait on them;
and `set_mocks` makes a root stack of its own, so `run_in_stack` refuses to make the program's
("Only one root Pulumi Stack may be active at once").
The SDK's own `pulumi.runtime.test` decorator clears them and drives the coroutine with the SDK's
`_sync_await` (pulumi/runtime/mocks.py, `test`); this module does the same for a whole program,
so tests can run a fresh program each time, as Pulumi's testing guide recommends.
"""

from __future__ import annotations

import asyncio
from typing import Callable

import pulumi


def ensure_event_loop() -> None:
    """Give the main thread an open event loop if it has none. `set_mocks` makes its root stack
    with `asyncio.Future()`, which needs a current loop; `asyncio.run` (the battery bridge's, in
    tests run before) leaves the thread with none ("There is no current event loop")."""
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        loop = None
    if loop is None or loop.is_closed():
        asyncio.set_event_loop(asyncio.new_event_loop())


def run_fresh(program: Callable[[], None]) -> None:
    """Run `program` inside a new root stack under the mocks set last; raise what it raises."""
    from pulumi.runtime import settings
    from pulumi.runtime.sync_await import _sync_await

    settings.ROOT.set(None)
    settings.SETTINGS.outputs.clear()
    settings.SETTINGS.rpc_manager.clear()
    _sync_await(pulumi.runtime.run_in_stack(program))
