"""``uvicorn --factory bench.profiled:create_app``: a service app under pyinstrument.

For profiling a service child (``BENCH_PROFILE=<child name>``): builds the app named by
``BENCH_FACTORY`` (``module:function``) and records its whole lifespan, writing the text
report to ``BENCH_PROFILE_OUT`` at shutdown. uvicorn re-raises SIGTERM after its
shutdown, so pyinstrument's own CLI would never get to write its report.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI


def create_app() -> FastAPI:
    from pyinstrument import Profiler  # only present under `uv run --with pyinstrument`

    module, _, name = os.environ["BENCH_FACTORY"].partition(":")
    app: FastAPI = getattr(importlib.import_module(module), name)()
    inner = app.router.lifespan_context
    out = Path(os.environ["BENCH_PROFILE_OUT"])

    @contextlib.asynccontextmanager
    async def profiled(a: FastAPI) -> AsyncIterator[None]:
        profiler = Profiler(async_mode="disabled")
        profiler.start()
        try:
            async with inner(a):
                yield
        finally:
            profiler.stop()
            out.write_text(profiler.output_text(show_all=False))  # noqa: ASYNC240 - at exit

    app.router.lifespan_context = profiled
    return app
