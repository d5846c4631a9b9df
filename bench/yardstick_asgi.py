"""The ASGI yardstick: the same page as bench/yardstick.py, the least an ASGI app on granian can do for it.

`carepg serve` is an ASGI app (it holds event streams as coroutines), so beside the WSGI yardstick this one says
what the interface itself costs: the same query (yardstick.QUERY), psycopg's async connections (THREADS of them
per worker process, handed out by a queue) on granian's event loop, the bytes written out. No validation, no
errors, no logging, no thread pool.

    CAREPG_WEB_DATABASE_URL=... PYTHONPATH=bench python bench/yardstick_asgi.py PORT WORKERS THREADS
"""

import asyncio
import os
import sys

import psycopg

from yardstick import QUERY

_free: asyncio.Queue | None = None


async def _connections() -> asyncio.Queue:
    global _free
    if _free is None:
        free: asyncio.Queue = asyncio.Queue()
        for _ in range(int(os.environ.get("YARDSTICK_CONNECTIONS", "4"))):
            free.put_nowait(await psycopg.AsyncConnection.connect(
                os.environ["CAREPG_WEB_DATABASE_URL"], autocommit=True, prepare_threshold=0))  # fmt: skip
        _free = free
    return _free


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    free = await _connections()
    conn = await free.get()
    try:
        worker = int(scope["path"].split("/")[2])  # /workers/{id}/shifts
        body = (await (await conn.execute(QUERY, {"worker": worker}, binary=True)).fetchone())[0]
    finally:
        free.put_nowait(conn)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


if __name__ == "__main__":
    from granian import Granian
    from granian.constants import Interfaces

    port, workers, threads = (int(a) for a in sys.argv[1:4])
    os.environ["YARDSTICK_CONNECTIONS"] = str(threads)
    Granian("yardstick_asgi:app", address="127.0.0.1", port=port, interface=Interfaces.ASGI,
            workers=workers).serve()  # fmt: skip
