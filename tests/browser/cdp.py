"""A small Chrome DevTools Protocol client for headless Chromium (Debian's package).

Enough for the browser tests: open a page, collect console errors and exceptions,
evaluate script (axe-core), set a phone viewport, take screenshots.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import websockets
from reporting.printing import headless_args


class Page:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self._id = 0
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self.errors: list[str] = []
        self._loaded = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            await self._listen()

    async def _listen(self) -> None:
        async for raw in self.ws:
            msg = json.loads(raw)
            if "id" in msg:
                future = self._waiting.pop(msg["id"], None)
                if future is not None and not future.done():
                    if "error" in msg:
                        future.set_exception(RuntimeError(str(msg["error"])))
                    else:
                        future.set_result(msg.get("result", {}))
                continue
            method, params = msg.get("method"), msg.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                self.errors.append(
                    "console: "
                    + " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
                )
            elif method == "Runtime.exceptionThrown":
                self.errors.append("exception: " + json.dumps(params["exceptionDetails"])[:500])
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                self.errors.append(
                    f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}"
                )
            elif method == "Page.loadEventFired":
                self._loaded.set()

    async def send(self, method: str, **params: Any) -> Any:
        self._id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[self._id] = future
        await self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        return await asyncio.wait_for(future, 60)

    async def open(self, url: str) -> None:
        self._loaded.clear()
        await self.send("Page.navigate", url=url)
        await asyncio.wait_for(self._loaded.wait(), 60)

    async def evaluate(self, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def screenshot(self, path: Path) -> Path:
        shot = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))
        return path

    async def viewport(self, width: int, height: int, mobile: bool) -> None:
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=mobile,
        )


@contextlib.asynccontextmanager
async def browser() -> AsyncIterator[Page]:
    """A headless Chromium with one page (fails, never skips, if Chromium is missing)."""
    profile = tempfile.mkdtemp(prefix="ankommen-chromium-")
    proc = subprocess.Popen(  # noqa: ASYNC220 (started once per test; its output read in a thread)
        [
            *headless_args(),
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        port = None
        for _ in range(200):
            line = await asyncio.to_thread(proc.stderr.readline)
            found = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if found:
                port = int(found.group(1))
                break
            if not line and proc.poll() is not None:
                break
        assert port, "chromium did not start its DevTools endpoint"
        async with httpx.AsyncClient() as client:
            targets = (await client.get(f"http://127.0.0.1:{port}/json/list")).json()
        page_target = next(t for t in targets if t["type"] == "page")
        async with websockets.connect(page_target["webSocketDebuggerUrl"], max_size=None) as ws:
            page = Page(ws)
            for domain in ("Page", "Runtime", "Log"):
                await page.send(f"{domain}.enable")
            yield page
            page._reader.cancel()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
