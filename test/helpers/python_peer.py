"""Python `websockets` peer for test/interop-python.test.ts.

Run with Debian's interpreter (/usr/bin/python3, package python3-websockets).

    python_peer.py server
        Echo server on 127.0.0.1, ephemeral port. Offers the subprotocol "superchat".
        Prints one JSON object per line on stdout:
          {"event": "listening", "port": N, "version": "..."}
          {"event": "open", "path": "...", "subprotocol": ... , "offered": "..."}
          {"event": "closed", "path": "...", "code": N, "reason": "..."}
        Paths: /server-close?code=N&reason=R closes at once with that code and reason;
        any other path echoes every message back with its type (str or bytes) preserved.
        Exits when stdin reaches EOF (the parent test closed it or died) or on SIGTERM.

    python_peer.py client URL SCENARIO
        Runs one scripted exchange against URL and prints one JSON object with the results.
        SCENARIO is one of: text, binary, subprotocol, client-close, server-close, big,
        fragments, ping.

Written against websockets 10.4 (Debian 12); uses only API that later versions keep.
"""

import asyncio
import hashlib
import json
import os
import sys
import threading
from urllib.parse import parse_qs, urlsplit

import websockets

MAX_SIZE = 64 * 1024 * 1024
BIG = 10 * 1024 * 1024
TIMEOUT = 20


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def sha256(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def describe(message):
    """JSON-friendly description of a received message."""
    if isinstance(message, str):
        return {"type": "text", "length": len(message.encode("utf-8")), "sha256": sha256(message), "text": message}
    return {"type": "binary", "length": len(message), "sha256": sha256(message)}


def request_path(ws):
    path = getattr(ws, "path", None)
    if path is None:  # websockets >= 14 (new asyncio implementation)
        path = ws.request.path
    return path


def request_header(ws, name):
    headers = getattr(ws, "request_headers", None)
    if headers is None:
        headers = ws.request.headers
    return headers.get(name)


# ---------------------------------------------------------------------------------------------
# server


async def handler(ws):
    path = request_path(ws)
    emit({
        "event": "open",
        "path": path,
        "subprotocol": ws.subprotocol,
        "offered": request_header(ws, "Sec-WebSocket-Protocol"),
    })
    url = urlsplit(path)
    try:
        if url.path == "/server-close":
            query = parse_qs(url.query)
            await ws.close(int(query["code"][0]), query.get("reason", [""])[0])
        else:
            async for message in ws:
                await ws.send(message)
    except websockets.ConnectionClosed:
        pass
    await ws.wait_closed()
    emit({"event": "closed", "path": path, "code": ws.close_code, "reason": ws.close_reason})


async def serve():
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        finally:
            loop.call_soon_threadsafe(lambda: stop.done() or stop.set_result(None))

    threading.Thread(target=watch_stdin, daemon=True).start()
    async with websockets.serve(
        handler, "127.0.0.1", 0, subprotocols=["superchat"], max_size=MAX_SIZE
    ) as server:
        port = server.sockets[0].getsockname()[1]
        emit({"event": "listening", "port": port, "version": websockets.__version__})
        await stop


# ---------------------------------------------------------------------------------------------
# client scenarios


async def echo(ws, message):
    await ws.send(message)
    return describe(await ws.recv())


async def scenario_text(url):
    texts = ["hello", "", "ünïcödé — 你好 — 🚀", "x" * 125, "y" * 126, "z" * 65536]
    async with websockets.connect(url, max_size=MAX_SIZE) as ws:
        echoes = [await echo(ws, t) for t in texts]
    return {"sent": texts, "echoes": echoes}


async def scenario_binary(url):
    payloads = [bytes(range(256)), b"", os.urandom(125), os.urandom(126), os.urandom(65535), os.urandom(65536)]
    async with websockets.connect(url, max_size=MAX_SIZE) as ws:
        echoes = [await echo(ws, p) for p in payloads]
    return {"sent": [describe(p) for p in payloads], "echoes": echoes}


async def scenario_subprotocol(url):
    async with websockets.connect(url, subprotocols=["chat", "superchat"], max_size=MAX_SIZE) as ws:
        subprotocol = ws.subprotocol
        reply = await echo(ws, "with protocol")
    return {"subprotocol": subprotocol, "echo": reply}


async def scenario_client_close(url):
    reason = "client bye — ✓"
    ws = await websockets.connect(url, max_size=MAX_SIZE)
    await ws.close(4001, reason)
    await ws.wait_closed()
    return {"sent": {"code": 4001, "reason": reason}, "code": ws.close_code, "reason": ws.close_reason}


async def scenario_server_close(url):
    ws = await websockets.connect(url, max_size=MAX_SIZE)
    try:
        message = await ws.recv()
        return {"error": "expected the server to close, got a message", "message": describe(message)}
    except websockets.ConnectionClosed:
        pass
    await ws.wait_closed()
    return {"code": ws.close_code, "reason": ws.close_reason}


async def scenario_big(url):
    binary = os.urandom(BIG)
    text = "aé你🚀" * (BIG // 10)  # 10 bytes of UTF-8 per repetition
    async with websockets.connect(url, max_size=MAX_SIZE) as ws:
        binary_echo = await echo(ws, binary)
        text_echo = await echo(ws, text)
    text_echo.pop("text")
    return {
        "binary": {"sent": describe(binary), "echo": binary_echo},
        "text": {"sent": {"type": "text", "length": BIG, "sha256": sha256(text)}, "echo": text_echo},
    }


async def scenario_fragments(url):
    async with websockets.connect(url, max_size=MAX_SIZE) as ws:
        await ws.send(["frag-1 ", "frag-2 🚀 ", "frag-3"])  # an iterable is sent as fragments
        text_echo = describe(await ws.recv())
        await ws.send([b"\x00\x01", b"", b"\x02\xff"])
        binary_echo = describe(await ws.recv())
    return {"text": text_echo, "binary": binary_echo, "binary_expected": sha256(b"\x00\x01\x02\xff")}


async def scenario_ping(url):
    async with websockets.connect(url, max_size=MAX_SIZE) as ws:
        pong_waiter = await ws.ping(b"from python")
        await asyncio.wait_for(pong_waiter, TIMEOUT)
        reply = await echo(ws, "after ping")
    return {"pong": True, "echo": reply}


SCENARIOS = {
    "text": scenario_text,
    "binary": scenario_binary,
    "subprotocol": scenario_subprotocol,
    "client-close": scenario_client_close,
    "server-close": scenario_server_close,
    "big": scenario_big,
    "fragments": scenario_fragments,
    "ping": scenario_ping,
}


async def client(url, scenario):
    result = await asyncio.wait_for(SCENARIOS[scenario](url), TIMEOUT)
    result["version"] = websockets.__version__
    emit(result)


def main(argv):
    if len(argv) >= 2 and argv[1] == "server":
        asyncio.run(serve())
    elif len(argv) == 4 and argv[1] == "client" and argv[3] in SCENARIOS:
        asyncio.run(client(argv[2], argv[3]))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
