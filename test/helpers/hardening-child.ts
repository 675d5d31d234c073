/**
 * Parent side of test/fixtures/hardening-server.ts (or another child server built on
 * test/fixtures/child-memory.ts): starts our WebSocketServer in a child
 * process (a fresh one per memory check, so that no garbage of an earlier check hides the
 * growth of the next), reads its JSON lines, asks it for memory figures, and stops it by its
 * own PID. Every wait is bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { within } from './hardening-net.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCRIPT = fileURLToPath(new URL('../fixtures/hardening-server.ts', import.meta.url));

export const MiB = 1024 * 1024;

export interface ChildConfig {
  options?: Record<string, unknown>;
  mode?: 'echo' | 'digest' | 'flood';
  floodBytes?: number;
  messageBytes?: number;
}

export interface Memory {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  baselineRss: number;
  peakRss: number;
  peakGrowth: number;
  cpuMs: number;
}

export type ChildEvent = Record<string, unknown> & { event: string };

export class ChildServer {
  readonly events: ChildEvent[] = [];
  stderr = '';
  private partial = '';
  private waiters = new Set<() => void>();
  private nextId = 1;
  private exited = false;
  private readonly exitPromise: Promise<void>;

  private constructor(private readonly proc: ChildProcess) {
    proc.stdout!.setEncoding('utf8');
    proc.stderr!.setEncoding('utf8');
    proc.stdout!.on('data', (chunk: string) => {
      const lines = (this.partial + chunk).split('\n');
      this.partial = lines.pop()!;
      for (const line of lines) if (line.trim() !== '') this.events.push(JSON.parse(line) as ChildEvent);
      this.wake();
    });
    proc.stderr!.on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    proc.stdin!.on('error', () => {});
    this.exitPromise = new Promise((resolve) => {
      proc.once('close', () => {
        this.exited = true;
        this.wake();
        resolve();
      });
    });
  }

  /** Starts a child server (`script`, by default our WebSocketServer) and waits until it listens. */
  static async start(config: ChildConfig | Record<string, unknown>, script = SCRIPT): Promise<ChildServer> {
    // The test runner's own variables (NODE_TEST_CONTEXT) would make the child act as a test file.
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    const proc = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', script, JSON.stringify(config)], {
      cwd: ROOT,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const child = new ChildServer(proc);
    try {
      await child.waitEvent((e) => e.event === 'listening', 20_000, 'the child server to listen');
    } catch (error) {
      await child.stop();
      throw error;
    }
    return child;
  }

  get port(): number {
    const e = this.events.find((x) => x.event === 'listening');
    return e!.port as number;
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** The first event (already seen or yet to come) that matches; rejects if the child exits. */
  waitEvent(match: (e: ChildEvent) => boolean, ms: number, what: string): Promise<ChildEvent> {
    return within(
      new Promise<ChildEvent>((resolve, reject) => {
        const check = (): void => {
          const found = this.events.find(match);
          if (found) {
            this.waiters.delete(check);
            resolve(found);
          } else if (this.exited) {
            this.waiters.delete(check);
            reject(new Error(`the child server exited while waiting for ${what}; stderr: ${this.stderr.slice(-2000)}`));
          }
        };
        this.waiters.add(check);
        check();
      }),
      ms,
      `${what} (child events so far: ${JSON.stringify(this.events.slice(-5))}; stderr: ${this.stderr.slice(-500)})`,
    );
  }

  /** Sends a command and waits for its answer (an event named after it, with the same id). */
  async request(cmd: string, extra: Record<string, unknown> = {}): Promise<ChildEvent> {
    const id = this.nextId++;
    this.proc.stdin!.write(JSON.stringify({ ...extra, cmd, id }) + '\n');
    return this.waitEvent((e) => e.event === cmd && e.id === id, 10_000, `the child's answer to ${cmd}`);
  }

  /** Takes the memory baseline (after a full GC) and starts the peak sampler. */
  async mark(): Promise<void> {
    await this.request('mark');
  }

  /** Memory figures; with `gc`, after a full GC (what is still held, not garbage yet to collect). */
  async memory(options: { gc?: boolean } = {}): Promise<Memory> {
    return (await this.request('mem', options.gc ? { gc: true } : {})) as unknown as Memory;
  }

  /** Whether the child is still running (it exits only when told to, or when it crashes). */
  get alive(): boolean {
    return !this.exited;
  }

  /** Ends the child's stdin (it exits by itself); kills it by its PID if it does not go. */
  async stop(): Promise<void> {
    if (this.exited) return;
    this.proc.stdin!.end();
    try {
      await within(this.exitPromise, 5000, 'the child server to exit');
    } catch {
      if (!this.exited && this.proc.pid !== undefined) process.kill(this.proc.pid, 'SIGKILL');
      await within(this.exitPromise, 5000, 'the killed child server to exit').catch(() => {});
    }
  }
}

/** Formats bytes as MiB with one decimal, for diagnostics. */
export function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}
