#!/usr/bin/env node
/**
 * The benchmark suites: builds the C load generator, then runs every scenario of a suite
 * (bench/suites.mjs: core, or realtime) against every contender (a fresh server process per
 * run, pinned to CPU 0; the load generator on CPU 1), repeats, takes medians, and prints a
 * markdown table with ratios. See bench/README.md.
 *
 *   node bench/run.mjs [--suite core|realtime] [--scenario a,b] [--contender a,b] [--reps N]
 *                      [--duration S] [--warmup S] [--verify-every N] [--smoke] [--no-pin] [--out FILE]
 *
 * Exits non-zero if any run failed (a server that answered wrongly, crashed or stalled).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SUITES } from './suites.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BENCH = path.join(ROOT, 'bench');
const BUILD = path.join(BENCH, '.build');
const LOADGEN = path.join(BUILD, 'loadgen');
const DIST_COPY = path.join(BUILD, 'dist');
const LOADGEN_SOURCES = ['loadgen.c', 'loadgen-sio.c'].map((f) => path.join(BENCH, f));

// ---------- options ----------

function parseOptions(argv) {
  const o = { suite: 'core', scenarios: null, contenders: null, reps: 3, duration: 5, warmup: 1.5, verifyEvery: 64, smoke: false, pin: true, out: null, quietWait: 120 };
  const num = (name, v, min) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < min) throw new Error(`${name} needs a number >= ${min}, got ${v}`);
    return n;
  };
  let repsSet = false, durationSet = false, warmupSet = false, verifySet = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--smoke') o.smoke = true;
    else if (a === '--no-pin') o.pin = false;
    else if (a === '--suite') o.suite = argv[++i];
    else if (a === '--scenario') o.scenarios = argv[++i]?.split(',');
    else if (a === '--contender') o.contenders = argv[++i]?.split(',');
    else if (a === '--reps') { o.reps = num(a, argv[++i], 1); repsSet = true; }
    else if (a === '--duration') { o.duration = num(a, argv[++i], 0.1); durationSet = true; }
    else if (a === '--warmup') { o.warmup = num(a, argv[++i], 0); warmupSet = true; }
    else if (a === '--verify-every') { o.verifyEvery = num(a, argv[++i], 1); verifySet = true; }
    else if (a === '--out') o.out = argv[++i];
    else if (a === '--quiet-wait') o.quietWait = num(a, argv[++i], 0);
    else if (a === '-h' || a === '--help') {
      const keys = (list) => list.map((x) => x.key).join(', ');
      console.log(`usage: node bench/run.mjs [options]
  --suite NAME       ${Object.keys(SUITES).join(' or ')} (default core): what runs, and the table it writes
  --scenario a,b     of the suite (default: all): ${Object.entries(SUITES).map(([k, s]) => `${k}: ${keys(s.scenarios)}`).join('; ')}
  --contender a,b    of the suite (default: all): ${Object.entries(SUITES).map(([k, s]) => `${k}: ${keys(s.contenders)}`).join('; ')}
  --reps N           repetitions, medians reported (default 3)
  --duration S       measured seconds per run (default 5)
  --warmup S         warm-up seconds before measuring (default 1.5)
  --verify-every N   check every byte of every N-th message (default 64; smoke: 2)
  --smoke            tiny and fast: few connections, short runs, 1 rep, every 2nd message checked byte for byte
  --no-pin           do not pin server and load generator to CPUs 0 and 1
  --quiet-wait S     before each run, wait (at most S seconds over the whole suite, default 120)
                     until other processes leave CPUs 0 and 1 mostly idle
  --out FILE         where to write the markdown (default bench/results.md, bench/results-realtime.md;
                     smoke: bench/.build/results-smoke.md, bench/.build/results-realtime-smoke.md)`);
      process.exit(0);
    } else throw new Error(`unknown option ${a} (try --help)`);
  }
  if (o.smoke) {
    o.quietWait = 0;
    if (!repsSet) o.reps = 1;
    if (!durationSet) o.duration = 0.3;
    if (!warmupSet) o.warmup = 0.1;
    if (!verifySet) o.verifyEvery = 2; // half byte for byte, half through the fast path
  }
  const suite = SUITES[o.suite];
  if (!suite) throw new Error(`unknown suite ${o.suite} (${Object.keys(SUITES).join(' or ')})`);
  for (const s of o.scenarios ?? []) if (!suite.scenarios.some((x) => x.key === s)) throw new Error(`unknown scenario ${s} in suite ${o.suite}`);
  for (const c of o.contenders ?? []) if (!suite.contenders.some((x) => x.key === c)) throw new Error(`unknown contender ${c} in suite ${o.suite}`);
  o.out ??= o.smoke ? path.join(BUILD, `${suite.results}-smoke.md`) : path.join(BENCH, `${suite.results}.md`);
  return o;
}

/** `promise`'s value, or undefined once `ms` have passed (the timer is cleared either way). */
function within(promise, ms) {
  let timer;
  const late = new Promise((resolve) => { timer = setTimeout(resolve, ms); });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

// ---------- child processes: every one tracked by PID and killed on the way out ----------

const children = new Set();

function killAll() {
  for (const child of children) {
    try { process.kill(child.pid, 'SIGKILL'); } catch {}
  }
  children.clear();
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

/** A child whose stdout is read line by line; every wait is bounded. */
class Proc {
  constructor(cmd, args, env) {
    this.proc = spawn(cmd, args, { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.pid = this.proc.pid;
    children.add(this.proc);
    this.lines = [];
    this.stderr = '';
    this.partial = '';
    this.waiters = [];
    this.proc.stdout.setEncoding('utf8');
    this.proc.stderr.setEncoding('utf8');
    this.proc.stdout.on('data', (chunk) => {
      const parts = (this.partial + chunk).split('\n');
      this.partial = parts.pop();
      this.lines.push(...parts);
      this.wake();
    });
    this.proc.stderr.on('data', (chunk) => {
      if (this.stderr.length < 65536) this.stderr += chunk;
    });
    this.proc.stdin.on('error', () => {});
    this.exited = new Promise((resolve) => {
      this.proc.on('error', (err) => {
        this.stderr += String(err);
        children.delete(this.proc);
        resolve({ code: -1, signal: null });
        this.wake();
      });
      this.proc.on('close', (code, signal) => {
        if (this.partial) this.lines.push(this.partial);
        this.partial = '';
        children.delete(this.proc);
        this.done = { code, signal };
        resolve(this.done);
        this.wake();
      });
    });
  }

  wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** The first line from index `from` matching `re`; rejects on timeout or exit. */
  async line(re, timeoutMs, what, from = 0) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (let i = from; i < this.lines.length; i++) if (re.test(this.lines[i])) return { line: this.lines[i], index: i };
      if (this.done) throw new Error(`${what}: process exited (${this.done.code ?? this.done.signal}) first; stderr: ${this.stderr.trim().slice(-2000)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${what}: timed out after ${timeoutMs} ms; stderr: ${this.stderr.trim().slice(-2000)}`);
      await new Promise((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 1000));
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  send(text) {
    this.proc.stdin.write(text);
  }

  /** Closes stdin, then SIGTERM, then SIGKILL: each step waits a bounded time. */
  async stop() {
    if (this.done) return this.done;
    try { this.proc.stdin.end(); } catch {}
    const wait = (ms) => within(this.exited, ms);
    await wait(1000);
    if (!this.done) { try { process.kill(this.pid, 'SIGTERM'); } catch {} await wait(2000); }
    if (!this.done) { try { process.kill(this.pid, 'SIGKILL'); } catch {} await wait(2000); }
    return this.done;
  }

  /** Waits for exit up to timeoutMs, then kills. */
  async waitExit(timeoutMs, what) {
    const r = await within(this.exited, timeoutMs);
    if (r) return r;
    await this.stop();
    throw new Error(`${what}: did not finish within ${timeoutMs} ms; stderr: ${this.stderr.trim().slice(-2000)}`);
  }
}

// ---------- measurement helpers ----------

let CLK_TCK = 100;
try { CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100; } catch {}

function cpuTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // utime + stime
  } catch {
    return NaN;
  }
}

/** Per-CPU busy and total ticks from /proc/stat (busy includes irq, softirq and steal). */
function cpuStat() {
  const out = new Map();
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const [user, nice, system, idle, iowait, irq, softirq, steal] = m[2].trim().split(/\s+/).map(Number);
    const busy = user + nice + system + irq + softirq + (steal || 0);
    out.set(Number(m[1]), { busy, total: busy + idle + iowait });
  }
  return out;
}

/** % of CPU `cpu` that was busy between two cpuStat() samples. */
function busyPct(a, b, cpu) {
  const x = a.get(cpu), y = b.get(cpu);
  if (!x || !y || y.total === x.total) return NaN;
  return (100 * (y.busy - x.busy)) / (y.total - x.total);
}

/**
 * Waits until other processes use less than QUIET_PCT of each pinned CPU over a short sample,
 * spending at most `budget.left` seconds over the whole suite (then it stops waiting).
 */
const QUIET_PCT = 20;
async function waitQuiet(budget) {
  while (budget.left > 0) {
    const a = cpuStat();
    const t = performance.now();
    await sleep(300);
    const b = cpuStat();
    const busy = Math.max(busyPct(a, b, 0), busyPct(a, b, 1));
    if (!(busy >= QUIET_PCT)) return;
    budget.left -= (performance.now() - t) / 1000;
    budget.waited += (performance.now() - t) / 1000;
  }
}

/** VmRSS and VmHWM (peak RSS) in KiB; NaN when unreadable. */
function memKiB(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const get = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rss: get('VmRSS'), hwm: get('VmHWM') };
  } catch {
    return { rss: NaN, hwm: NaN };
  }
}

function rssKiB(pid) {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

function fmt(v) {
  if (!Number.isFinite(v)) return 'n/a';
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

// ---------- one run ----------

function pinned(cpu, cmd, args, o) {
  return o.pin ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args];
}

async function startServer(contender, serverMode, o, extraArgs = []) {
  // FULLDUPLEX_DIST: the copy of dist/ taken when the suite starts (a rebuild mid-run changes nothing)
  const env = { ...process.env, FULLDUPLEX_DIST: pathToFileURL(DIST_COPY + path.sep).href, ...contender.env };
  if (!('WS_NO_BUFFER_UTIL' in contender.env)) delete env.WS_NO_BUFFER_UTIL;
  const script = path.join(BENCH, 'servers', contender.script);
  const [cmd, args] = pinned(0, process.execPath, ['--expose-gc', script, '--mode', serverMode, ...extraArgs], o);
  const server = new Proc(cmd, args, env);
  try {
    const { line } = await server.line(/^READY \d+/, 15000, `${contender.key} server start`);
    const [, port, ...extra] = line.trim().split(/\s+/);
    for (const word of contender.expect?.split(' ') ?? [])
      if (!extra.includes(word)) throw new Error(`${contender.key} server: expected ${word} in '${line}'`);
    if (extraArgs.includes('--deflate') && !extra.includes('deflate=1'))
      throw new Error(`${contender.key} server: expected deflate=1 in '${line}'`);
    server.port = Number(port);
    return server;
  } catch (err) {
    await server.stop();
    throw err;
  }
}

function loadgenArgs(scn, params, contender, port, o) {
  const args = ['--mode', scn.mode, '--proto', contender.proto, '--port', String(port), '--verify-every', String(o.verifyEvery)];
  for (const [k, v] of Object.entries(params)) args.push(`--${k}`, String(v));
  args.push(...(scn.genArgs ?? []));
  if (scn.mode === 'echo' || scn.mode === 'latency' || scn.mode === 'broadcast')
    args.push('--duration', String(o.duration), '--warmup', String(o.warmup));
  return args;
}

function parseResult(gen, what) {
  const json = [...gen.lines].reverse().find((l) => l.startsWith('{'));
  if (!json) throw new Error(`${what}: no JSON result; stderr: ${gen.stderr.trim().slice(-2000)}`);
  return JSON.parse(json);
}

async function gcAndMeasure(server, what) {
  const from = server.lines.length;
  server.send('gc\n');
  const { line } = await server.line(/^GC /, 15000, what, from);
  const [, , heap, external] = line.trim().split(/\s+/).map(Number);
  return { rss: rssKiB(server.pid), js: heap + external };
}

async function runOne(scn, params, contender, o) {
  const server = await startServer(contender, scn.server, o, scn.serverArgs);
  try {
    const args = loadgenArgs(scn, params, contender, server.port, o);
    const [cmd, cargs] = pinned(1, LOADGEN, args, o);
    const what = `${scn.key}/${contender.key}`;
    const budgetMs = 1000 * (o.warmup + o.duration) + 90000;
    if (scn.mode === 'idle') {
      const before = await gcAndMeasure(server, `${what}: server GC before`);
      const gen = new Proc(cmd, cargs, process.env);
      try {
        await gen.line(/^READY \d+/, budgetMs, `${what}: load generator opening connections`);
        await sleep(o.smoke ? 100 : 500);
        const after = await gcAndMeasure(server, `${what}: server GC after`);
        gen.proc.stdin.end();
        const { code } = await gen.waitExit(30000, what);
        if (code !== 0) throw new Error(`${what}: load generator exited ${code}: ${gen.stderr.trim()}`);
        const r = parseResult(gen, what);
        r.rss_kib_per_conn = (after.rss - before.rss) / r.open;
        r.js_kib_per_conn = (after.js - before.js) / 1024 / r.open;
        r.server_rss_before_kib = before.rss;
        r.server_rss_after_kib = after.rss;
        return r;
      } finally {
        await gen.stop();
      }
    }
    if (scn.mode === 'connect' && o.warmup > 0) {
      // Like the echo scenarios' warm-up: one unmeasured round first, so every contender's
      // handshake path is compiled by the JIT before the measured round.
      const warm = new Proc(cmd, cargs, process.env);
      try {
        await warm.waitExit(budgetMs, `${what}: warm-up round`);
      } finally {
        await warm.stop();
      }
    }
    const rssStart = memKiB(server.pid);
    const ticks0 = cpuTicks(server.pid);
    const stat0 = cpuStat();
    const t0 = performance.now();
    const gen = new Proc(cmd, cargs, process.env);
    try {
      const { code } = await gen.waitExit(budgetMs, what);
      const wall = (performance.now() - t0) / 1000;
      if (code !== 0) throw new Error(`${what}: load generator exited ${code}: ${gen.stderr.trim()}`);
      const r = parseResult(gen, what);
      r.server_cpu_pct = (100 * (cpuTicks(server.pid) - ticks0)) / CLK_TCK / wall;
      // Server memory: before the load, right after the generator finished (no GC asked
      // for; its connections are being closed), and the peak over its life (VmHWM).
      const rssEnd = memKiB(server.pid);
      r.server_rss_start_mib = rssStart.rss / 1024;
      r.server_rss_after_mib = rssEnd.rss / 1024;
      r.server_rss_peak_mib = rssEnd.hwm / 1024;
      if (o.pin) {
        // What other processes (other jobs on the machine) took from the two pinned CPUs.
        const stat1 = cpuStat();
        r.others_cpu0_pct = Math.max(0, busyPct(stat0, stat1, 0) - r.server_cpu_pct);
        r.others_cpu1_pct = Math.max(0, busyPct(stat0, stat1, 1) - (100 * (r.gen_user_s + r.gen_sys_s)) / wall);
      }
      if (server.done) throw new Error(`${what}: the server exited during the run; stderr: ${server.stderr.trim()}`);
      return r;
    } finally {
      await gen.stop();
    }
  } finally {
    await server.stop();
  }
}

// ---------- report ----------

function gitHead() {
  try {
    let head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, encoding: 'utf8' }).trim();
    if (dirty) head += ' (src/ has uncommitted changes)';
    return head;
  } catch {
    return 'unknown';
  }
}

function machine(suite) {
  const cpuModel = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  let gcc = 'unknown';
  try { gcc = execFileSync('gcc', ['--version'], { encoding: 'utf8' }).split('\n')[0]; } catch {}
  const git = gitHead();
  const versions = suite.packages.map((name) => {
    try {
      return `${name} ${JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version}`;
    } catch {
      return `${name} unknown`;
    }
  });
  return { cpuModel, cpus: os.cpus().length, kernel: `${os.type()} ${os.release()}`, node: process.version, gcc, git, versions };
}

const NOISY_PCT = 25;

function report(suite, results, scenarios, contenders, o, info, startedAt, loads) {
  const lines = [];
  const has = (k) => contenders.some((c) => c.key === k);
  const cols = contenders.map((c) => c.label);
  const ratios = suite.ratios.filter(([, a, b]) => has(a) && has(b));
  lines.push(`| scenario | unit | ${[...cols, ...ratios.map((r) => r[0])].join(' | ')} |`);
  lines.push(`|---|---|${[...cols, ...ratios].map(() => '---:').join('|')}|`);
  const value = (scn, ckey, metric) => {
    const runs = results.get(`${scn.key}/${ckey}`) ?? [];
    if (runs.some((r) => r.error)) return NaN;
    return median(runs.map((r) => r[metric]));
  };
  for (const { scn, params } of scenarios) {
    for (const row of scn.rows(params)) {
      const cells = contenders.map((c) => {
        const runs = results.get(`${scn.key}/${c.key}`) ?? [];
        if (runs.some((r) => r.error)) return 'FAIL';
        const noisy = runs.filter((r) => r.others_cpu0_pct > NOISY_PCT || r.others_cpu1_pct > NOISY_PCT).length;
        return fmt(value(scn, c.key, row.metric)) + (noisy * 2 > runs.length ? ' *' : '');
      });
      const rcells = ratios.map(([, a, b]) => {
        const x = value(scn, a, row.metric), y = value(scn, b, row.metric);
        return Number.isFinite(x) && Number.isFinite(y) && y !== 0 ? `${(x / y).toFixed(2)}x` : 'n/a';
      });
      lines.push(`| ${row.label} | ${row.unit} ${row.better === 'higher' ? '↑' : '↓'} | ${[...cells, ...rcells].join(' | ')} |`);
    }
  }
  const table = lines.join('\n');

  const cpu = [];
  cpu.push(`| scenario | ${contenders.map((c) => c.label).join(' | ')} |`);
  cpu.push(`|---|${contenders.map(() => '---:').join('|')}|`);
  for (const { scn } of scenarios) {
    const cells = contenders.map((c) => {
      const runs = (results.get(`${scn.key}/${c.key}`) ?? []).filter((r) => !r.error);
      if (runs.length === 0) return 'n/a';
      const g = median(runs.map((r) => r.gen_cpu_pct));
      const s = median(runs.map((r) => r.server_cpu_pct));
      return `${fmt(g)}%${Number.isFinite(s) ? ` / ${fmt(s)}%` : ''}`;
    });
    cpu.push(`| ${scn.key} | ${cells.join(' | ')} |`);
  }

  const raw = [];
  for (const { scn, params } of scenarios) {
    for (const c of contenders) {
      const runs = results.get(`${scn.key}/${c.key}`) ?? [];
      if (runs.length === 0) continue; // did not take part
      const metrics = scn.rows(params).map((r) => r.metric);
      const vals = runs.map((r) => {
        if (r.error) return 'FAIL';
        const lag = Number.isFinite(r.send_lag_p99_us) ? `, generator late by p99 ${fmt(r.send_lag_p99_us)} µs / max ${fmt(r.send_lag_max_us)} µs` : '';
        const wire = r.deflate
          ? `, wire/payload: echoes ${r.wire_ratio_rx?.toFixed(3)} (${fmt((100 * r.rx_compressed_msgs) / r.rx_msgs)}% compressed), sent ${r.wire_ratio_tx?.toFixed(3)}; server RSS ${fmt(r.server_rss_start_mib)} -> peak ${fmt(r.server_rss_peak_mib)} MiB`
          : '';
        const cpu = Number.isFinite(r.server_cpu_pct)
          ? ` (server ${fmt(r.server_cpu_pct)}%${Number.isFinite(r.others_cpu0_pct) ? `, others ${fmt(r.others_cpu0_pct)}% / ${fmt(r.others_cpu1_pct)}%` : ''}${lag}${wire})`
          : '';
        return metrics.map((m) => fmt(r[m])).join('/') + cpu;
      });
      raw.push(`| ${scn.key} | ${c.label} | ${vals.join('; ')} |`);
    }
  }

  const failures = [];
  for (const [key, runs] of results) for (const r of runs) if (r.error) failures.push(`- ${key}: ${r.error}`);

  const md = `# ${suite.title}${o.smoke ? ' (SMOKE RUN: tiny parameters, not a measurement)' : ''}

- Date: ${startedAt.toISOString()}
- Machine: ${info.cpuModel}, ${info.cpus} CPUs, ${info.kernel}
- Node ${info.node}, ${info.versions.join(', ')}, ${info.gcc}, fullduplex at ${info.git} (dist/ as built when the run started${info.gitAtEnd ? `; the checkout was at ${info.gitAtEnd} by the end` : ''})
- ${o.pin ? 'Server pinned to CPU 0, load generator to CPU 1 (taskset)' : 'Not pinned (--no-pin)'}; load average ${loads[0].map((x) => x.toFixed(2)).join(' ')} at start, ${loads[1].map((x) => x.toFixed(2)).join(' ')} at the end${info.quietWaited > 0 ? `; waited ${info.quietWaited.toFixed(0)} s in all for other load to pass` : ''}
- ${o.reps} repetition(s), median shown; ${o.duration} s measured after ${o.warmup} s warm-up; every byte of every ${o.verifyEvery === 1 ? '' : `${o.verifyEvery}th `}message checked (all messages: length, sequence number, last byte)
- Command: \`${['node bench/run.mjs', ...process.argv.slice(2)].join(' ')}\`

${table}

↑ higher is better, ↓ lower is better. * most of this cell's runs shared a pinned CPU with other
processes (they took more than ${NOISY_PCT}% of CPU 0 or CPU 1): treat it with suspicion.
${suite.notes(scenarios.map(({ scn }) => scn.key))}

Load generator CPU% / server CPU% (medians; generator: of one core during the measured window,
or the connection phase for handshakes and idle; server: over the whole load generator run):

${cpu.join('\n')}

Every run (metric per repetition; in brackets the server's CPU% and, when pinned, the share of
CPU 0 / CPU 1 that other processes on the machine took during the run: a run where others
took much of CPU 0 measured the neighbours, not the server; for latency, how late the generator
itself sent against its schedule: latencies near that lag are the machine's, not the server's):

| scenario | contender | values |
|---|---|---|
${raw.join('\n')}
${failures.length ? `\nFailures:\n\n${failures.join('\n')}\n` : ''}`;
  return { md, table, failures };
}

// ---------- main ----------

async function main() {
  const o = parseOptions(process.argv.slice(2));
  if (!existsSync(path.join(ROOT, 'dist/index.js'))) throw new Error('dist/index.js is missing: run `npm run build` first (npm run bench does)');
  mkdirSync(BUILD, { recursive: true });
  rmSync(DIST_COPY, { recursive: true, force: true });
  cpSync(path.join(ROOT, 'dist'), DIST_COPY, { recursive: true });
  const cc = spawnSync('gcc', ['-O2', '-Wall', '-o', LOADGEN, ...LOADGEN_SOURCES, '-lz'], { encoding: 'utf8' });
  if (cc.error || cc.status !== 0) throw new Error(`building the load generator failed (is gcc installed? apt-get install gcc zlib1g-dev):\n${cc.error ?? cc.stderr}`);
  if (o.pin) {
    const ts = spawnSync('taskset', ['-c', '1', 'true']);
    if (ts.error || ts.status !== 0 || os.cpus().length < 2) {
      console.error('bench: taskset or a second CPU is not available; running unpinned');
      o.pin = false;
    }
  }
  const suite = SUITES[o.suite];
  const scenarios = suite.scenarios.filter((s) => !o.scenarios || o.scenarios.includes(s.key)).map((scn) => ({ scn, params: o.smoke ? scn.smoke : scn.full }));
  const contenders = suite.contenders.filter((c) => !o.contenders || o.contenders.includes(c.key));
  const results = new Map();
  const info = machine(suite);
  const startedAt = new Date();
  const loadStart = os.loadavg();
  const takesPart = (scn, c) => !scn.contenders || scn.contenders.includes(c.key);
  const total = o.reps * scenarios.reduce((sum, { scn }) => sum + contenders.filter((c) => takesPart(scn, c)).length, 0);
  let n = 0;
  const quiet = { left: o.quietWait, waited: 0 };
  console.error(`bench: ${total} runs (${scenarios.length} scenarios x up to ${contenders.length} contenders x ${o.reps} reps)`);
  // Repetitions are the outer loop so that slow drift (other load on the machine) spreads
  // over all contenders instead of landing on one.
  for (let rep = 1; rep <= o.reps; rep++) {
    for (const { scn, params } of scenarios) {
      for (const c of contenders) {
        if (!takesPart(scn, c)) continue;
        n++;
        const key = `${scn.key}/${c.key}`;
        let r;
        if (o.pin) await waitQuiet(quiet);
        const t0 = performance.now();
        try {
          r = await runOne(scn, params, c, o);
        } catch (err) {
          r = { error: String(err.message ?? err).split('\n').slice(0, 6).join(' ') };
        }
        if (!results.has(key)) results.set(key, []);
        results.get(key).push(r);
        const main = scn.rows(params).map((row) => `${row.metric}=${fmt(r[row.metric])}`).join(' ');
        console.error(`bench: [${n}/${total}] rep ${rep} ${key}: ${r.error ? `FAILED ${r.error}` : `${main} gen_cpu=${fmt(r.gen_cpu_pct)}%`} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      }
    }
  }
  if (quiet.waited > 0) console.error(`bench: waited ${quiet.waited.toFixed(1)} s in all for other load to pass${quiet.left <= 0 ? ' (budget spent: later runs did not wait)' : ''}`);
  info.quietWaited = quiet.waited;
  const headAtEnd = gitHead();
  if (headAtEnd !== info.git) {
    info.gitAtEnd = headAtEnd;
    console.error(`bench: the checkout changed during the run (${info.git} -> ${headAtEnd}); fullduplex ran the dist/ copied at the start`);
  }
  const { md, table, failures } = report(suite, results, scenarios, contenders, o, info, startedAt, [loadStart, os.loadavg()]);
  mkdirSync(path.dirname(path.resolve(ROOT, o.out)), { recursive: true });
  writeFileSync(path.resolve(ROOT, o.out), md);
  writeFileSync(path.join(BUILD, `${path.basename(o.out, '.md')}.json`), JSON.stringify({ info, options: o, results: Object.fromEntries(results) }, null, 2));
  console.log(table);
  console.error(`bench: wrote ${path.relative(ROOT, path.resolve(ROOT, o.out))}`);
  if (failures.length) {
    console.error(`bench: ${failures.length} run(s) failed:\n${failures.join('\n')}`);
    process.exitCode = 1;
  }
}

main().catch((err) => {
  console.error(`bench: ${err.message ?? err}`);
  killAll();
  process.exit(1);
});
