"""A loopback TCP proxy the fault controller cuts and heals: a network partition between one
service process and Kafka or its database, without touching the servers themselves.

``cut()`` drops every open connection and refuses new ones (as a firewall rule that resets
them would); ``heal()`` lets connections through again. Runs in its own thread with its
own event loop, so the controller can use it from anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from ankommen_local.util import free_port


class Proxy:
    def __init__(self, target_port: int, *, port: int | None = None, host: str = "127.0.0.1"):
        self.host = host
        self.target_port = target_port
        self.port = port or free_port()
        self._cut = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.cuts = 0

    def start(self) -> Proxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(10)
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            self._drop_all()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def cut(self) -> None:
        def do() -> None:
            self._cut = True
            self._drop_all()

        self.cuts += 1
        self._loop.call_soon_threadsafe(do)

    def heal(self) -> None:
        def do() -> None:
            self._cut = False

        self._loop.call_soon_threadsafe(do)

    @property
    def is_cut(self) -> bool:
        return self._cut

    def _drop_all(self) -> None:
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()  # RST, not a polite FIN: the peer sees a failure
        self._writers.clear()

    async def _serve(self) -> None:
        self._server = await asyncio.start_server(self._client, self.host, self.port)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )
        self._writers.discard(writer)
        self._writers.discard(up_writer)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while not self._cut:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        finally:
            with contextlib.suppress(Exception):
                if self._cut:
                    writer.transport.abort()
                else:
                    writer.close()
