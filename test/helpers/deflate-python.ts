/**
 * Python `websockets` with permessage-deflate, for test/interop-deflate.test.ts. The Python
 * side is the script below, run with Debian's /usr/bin/python3 (package python3-websockets,
 * 10.4 on Debian 12) as `python3 -c SCRIPT ...`:
 *
 *   server CONFIG         echo server on 127.0.0.1:0; prints {"event":"listening","port":N,...}
 *                         then per connection {"event":"open","request":..,"response":..}
 *                         (the Sec-WebSocket-Extensions offer and answer); exits on stdin EOF.
 *   client URL CONFIG     connects, echoes a 1 MiB compressible text, then text and binary of
 *                         16 B..1 MiB (compressible and random), then a fragmented message;
 *                         compares every echo itself and prints one JSON result.
 *
 * CONFIG is JSON: {} for websockets' defaults (compression on), or the four RFC 7692 parameters
 * (server_no_context_takeover, client_no_context_takeover, server_max_window_bits,
 * client_max_window_bits) for an explicit permessage-deflate factory.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { withTimeout } from './raw-peer.ts';

export const PYTHON = '/usr/bin/python3';
export const PYTHON_INSTALL_HINT = 'install Debian python3-websockets: apt-get install -y python3-websockets';

const SCRIPT = String.raw`
import asyncio, hashlib, json, os, sys, threading
import websockets
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory, ServerPerMessageDeflateFactory

MAX_SIZE = 16 * 1024 * 1024
SIZES = [16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576]
TIMEOUT = 40

def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()

def compression_kwargs(config, factory):
    if not config:
        return {}  # websockets' default: compression="deflate"
    return {"compression": None, "extensions": [factory(**config)]}

def header(headers, name):
    return headers.get(name) if headers is not None else None

def compressible_text(size, seed):
    words = ["alpha", "beta", "gamma", "δέλτα", "你好", "zeta", "ünïcödé", "🚀"]
    out, n, i = [], 0, seed
    while n < size:
        i = (i * 1103515245 + 12345) & 0x7FFFFFFF
        rec = '{"id":%d,"w":"%s","v":"%s"},\n' % (i % 100000, words[i % len(words)], words[(i >> 5) % len(words)])
        out.append(rec)
        n += len(rec.encode("utf-8"))
    # Cut to size bytes; a character split by the cut is dropped.
    return "".join(out).encode("utf-8")[:size].decode("utf-8", errors="ignore")

def digest(m):
    b = m.encode("utf-8") if isinstance(m, str) else m
    return {"type": "text" if isinstance(m, str) else "binary", "length": len(b), "sha256": hashlib.sha256(b).hexdigest()}

async def echo_handler(ws, path=None):
    emit({"event": "open", "request": header(getattr(ws, "request_headers", None), "Sec-WebSocket-Extensions"),
          "response": header(getattr(ws, "response_headers", None), "Sec-WebSocket-Extensions")})
    try:
        async for message in ws:
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass

async def serve(config):
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    def watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        finally:
            loop.call_soon_threadsafe(lambda: stop.done() or stop.set_result(None))
    threading.Thread(target=watch_stdin, daemon=True).start()
    async with websockets.serve(echo_handler, "127.0.0.1", 0, max_size=MAX_SIZE,
                                **compression_kwargs(config, ServerPerMessageDeflateFactory)) as server:
        emit({"event": "listening", "port": server.sockets[0].getsockname()[1], "version": websockets.__version__})
        await stop

async def run_client(url, config):
    result = {"version": websockets.__version__, "checked": 0, "mismatches": []}
    async with websockets.connect(url, max_size=MAX_SIZE, **compression_kwargs(config, ClientPerMessageDeflateFactory)) as ws:
        result["response"] = header(getattr(ws, "response_headers", None), "Sec-WebSocket-Extensions")
        result["extensions"] = [type(e).__name__ + ":" + repr(getattr(e, "remote_no_context_takeover", None)) for e in ws.extensions]
        messages = [compressible_text(1 << 20, 1)]
        for i, size in enumerate(SIZES):
            messages.append(compressible_text(size, i + 2))
            messages.append(os.urandom(size))
        for m in messages:
            await ws.send(m)
            back = await ws.recv()
            result["checked"] += 1
            if back != m:
                result["mismatches"].append({"sent": digest(m), "got": digest(back)})
        parts = [compressible_text(3000, 50), "🚀 middle 🚀", compressible_text(5000, 51)]
        await ws.send(parts)  # an iterable is sent as one fragmented message
        back = await ws.recv()
        result["checked"] += 1
        if back != "".join(parts):
            result["mismatches"].append({"sent": digest("".join(parts)), "got": digest(back)})
    return result

def main(argv):
    if argv[1] == "server":
        asyncio.run(serve(json.loads(argv[2])))
    elif argv[1] == "client":
        emit(asyncio.run(asyncio.wait_for(run_client(argv[2], json.loads(argv[3])), TIMEOUT)))
    return 0

sys.exit(main(sys.argv))
`;

/** Why the Python peer cannot run here, or null. */
export function pythonProblem(): string | null {
  const r = spawnSync(PYTHON, ['-c', 'import websockets; print(websockets.__version__)'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error) return `${PYTHON} not runnable (${r.error.message}); ${PYTHON_INSTALL_HINT}`;
  if (r.status !== 0) return `python websockets not importable from ${PYTHON}; ${PYTHON_INSTALL_HINT}`;
  return null;
}

export type PythonDeflateConfig = Partial<{
  server_no_context_takeover: boolean;
  client_no_context_takeover: boolean;
  server_max_window_bits: number;
  client_max_window_bits: number | boolean;
}>;

export interface PythonServer {
  port: number;
  version: string;
  /** The next connection's offer and answer, as Python saw them. */
  nextOpen(): Promise<{ request: string | null; response: string | null }>;
  close(): Promise<void>;
}

/** Starts the Python echo server; `close()` ends its stdin and waits for it to exit (SIGKILL after 10 s). */
export async function startPythonServer(config: PythonDeflateConfig): Promise<PythonServer> {
  const child = spawn(PYTHON, ['-c', SCRIPT, 'server', JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const events: Array<Record<string, any>> = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    events.push(JSON.parse(line));
    for (const w of waiters.splice(0)) w();
  });
  const take = (type: string): Promise<Record<string, any>> =>
    withTimeout(
      new Promise((resolve) => {
        const check = (): void => {
          const i = events.findIndex((e) => e.event === type);
          if (i >= 0) resolve(events.splice(i, 1)[0]!);
          else waiters.push(check);
        };
        check();
      }),
      15_000,
      `the python server's "${type}" event (stderr: ${stderr})`,
    );
  const close = async (): Promise<void> => {
    child.stdin.end();
    await withTimeout(exited, 10_000, 'the python server to exit').catch(() => child.kill('SIGKILL'));
  };
  try {
    const listening = await take('listening');
    return { port: listening.port, version: listening.version, nextOpen: () => take('open') as never, close };
  } catch (err) {
    await close();
    throw err;
  }
}

export interface PythonClientResult {
  version: string;
  response: string | null;
  extensions: string[];
  checked: number;
  mismatches: unknown[];
}

/** Runs the Python client scenario against `url`; resolves with its JSON result. */
export async function runPythonClient(url: string, config: PythonDeflateConfig, ms = 45_000): Promise<PythonClientResult> {
  const child = spawn(PYTHON, ['-c', SCRIPT, 'client', url, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const status = await withTimeout(
    new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code) => resolve(code));
    }),
    ms,
    'the python client',
  ).catch((err) => {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\nstderr:\n${stderr}`);
  });
  if (status !== 0) throw new Error(`python client exited with ${status}\nstderr:\n${stderr}\nstdout:\n${stdout}`);
  return JSON.parse(stdout.trim()) as PythonClientResult;
}
