/**
 * What bench/run.mjs runs: suites of contenders (server scripts in bench/servers/) and
 * scenarios, with the ratios their tables show and the notes under them.
 *
 * Contender: key, label, script, proto (the load generator's --proto), env (for the server;
 * WS_NO_BUFFER_UTIL is removed unless given here) and expect (words its READY line must carry).
 * Scenario: loadgen parameters (full run, and the --smoke override) and the table rows.
 * Optional: serverArgs / genArgs (extra flags for the server and the load generator) and
 * contenders (the keys that take part; the others show n/a).
 * Suite: results (the file name: bench/<results>.md, bench/.build/<results>-smoke.md for
 * --smoke), packages whose versions the report names, ratios ([column, a, b]: a's median over
 * b's), notes (markdown under the table, given the scenario keys that ran).
 */
const size = (n) => (n >= 1 << 20 ? `${n / (1 << 20)} MiB` : n >= 1024 ? `${n / 1024} KiB` : `${n} B`);
const count = (n) => n.toLocaleString('en-US');

const CORE_CONTENDERS = [
  { key: 'fullduplex', label: 'fullduplex', script: 'fullduplex.mjs', proto: 'ws', env: {} },
  { key: 'ws', label: 'ws', script: 'ws.mjs', proto: 'ws', env: { WS_NO_BUFFER_UTIL: '1' }, expect: 'bufferutil=0' },
  { key: 'ws-bufferutil', label: 'ws + bufferutil', script: 'ws.mjs', proto: 'ws', env: {}, expect: 'bufferutil=1' },
  { key: 'net', label: 'net ceiling', script: 'net-ceiling.mjs', proto: 'raw', env: {} },
];


const CORE_SCENARIOS = [
  {
    key: 'echo-32', mode: 'echo', server: 'echo',
    full: { conns: 64, inflight: 16, size: 32 }, smoke: { conns: 4, inflight: 4, size: 32 },
    rows: (p) => [{ label: `echo ${size(p.size)}, ${p.conns} conns x ${p.inflight} in flight`, metric: 'msgs_per_s', unit: 'msg/s', better: 'higher' }],
  },
  {
    key: 'echo-16k', mode: 'echo', server: 'echo',
    full: { conns: 16, inflight: 4, size: 16384 }, smoke: { conns: 2, inflight: 2, size: 16384 },
    rows: (p) => [{ label: `echo ${size(p.size)}, ${p.conns} conns x ${p.inflight} in flight`, metric: 'mb_per_s', unit: 'MB/s', better: 'higher' }],
  },
  {
    key: 'echo-1m', mode: 'echo', server: 'echo',
    full: { conns: 4, inflight: 2, size: 1 << 20 }, smoke: { conns: 1, inflight: 2, size: 1 << 20 },
    rows: (p) => [{ label: `echo ${size(p.size)}, ${p.conns} conns x ${p.inflight} in flight`, metric: 'mb_per_s', unit: 'MB/s', better: 'higher' }],
  },
  {
    key: 'latency', mode: 'latency', server: 'echo',
    full: { conns: 64, rate: 10000, size: 32 }, smoke: { conns: 4, rate: 1000, size: 32 },
    rows: (p) => [
      ['p50', 'p50_us'], ['p99', 'p99_us'], ['p99.9', 'p999_us'],
    ].map(([q, metric]) => ({ label: `latency ${q} at ${count(p.rate)} msg/s, ${p.conns} conns, ${size(p.size)}`, metric, unit: 'µs', better: 'lower' })),
  },
  {
    key: 'connect', mode: 'connect', server: 'echo',
    full: { conns: 5000, 'max-pending': 256 }, smoke: { conns: 50, 'max-pending': 16 },
    rows: (p) => [{ label: `handshakes/s, ${count(p.conns)} conns (${p['max-pending']} at a time)`, metric: 'handshakes_per_s', unit: 'conn/s', better: 'higher' }],
  },
  {
    key: 'idle', mode: 'idle', server: 'echo',
    full: { conns: 10000, 'max-pending': 256 }, smoke: { conns: 50, 'max-pending': 16 },
    rows: (p) => [
      { label: `memory per idle conn (RSS), ${count(p.conns)} conns`, metric: 'rss_kib_per_conn', unit: 'KiB', better: 'lower' },
      { label: `memory per idle conn (JS heap + external), ${count(p.conns)} conns`, metric: 'js_kib_per_conn', unit: 'KiB', better: 'lower' },
    ],
  },
  {
    key: 'broadcast', mode: 'broadcast', server: 'broadcast',
    full: { conns: 1000, inflight: 32, size: 32 }, smoke: { conns: 10, inflight: 4, size: 32 },
    rows: (p) => [{ label: `broadcast ${size(p.size)} to ${count(p.conns)} receivers (${p.inflight} msgs in flight)`, metric: 'deliveries_per_s', unit: 'deliveries/s', better: 'higher' }],
  },
  {
    // permessage-deflate with each library's defaults (threshold 1024 B, context takeover both
    // ways); the generator compresses everything it sends and inflates every echo before the
    // checks. The net ceiling has no compression: it does not take part.
    key: 'deflate-echo', mode: 'echo', server: 'echo', serverArgs: ['--deflate'], genArgs: ['--deflate', '--payload', 'json'],
    contenders: ['fullduplex', 'ws', 'ws-bufferutil'],
    full: { conns: 64, inflight: 4, size: 4096 }, smoke: { conns: 4, inflight: 2, size: 4096 },
    rows: (p) => [
      { label: `deflate echo ${size(p.size)} JSON text, ${p.conns} conns x ${p.inflight} in flight`, metric: 'msgs_per_s', unit: 'msg/s', better: 'higher' },
      { label: `deflate echo: server RSS after the run`, metric: 'server_rss_after_mib', unit: 'MiB', better: 'lower' },
    ],
  },
];

const CORE_NOTES = (keys) => `MB/s = 10^6 payload bytes echoed per second (one direction).
The net ceiling is a node:net server with 4-byte length framing, corked per read, no masking or
UTF-8 work; its "handshake" is accepting the TCP connection and writing a 4-byte greeting.
Memory per idle connection: server RSS (and V8 heap used + external) after a full GC with the
connections open, minus the same before they were opened, divided by the connections.${keys.includes('deflate-echo') ? `
Deflate echo: permessage-deflate with each library's defaults (threshold 1024 B, context
takeover); the generator compresses every message it sends (zlib level 1) and inflates every
echo before checking it; the net ceiling has no compression and does not take part (n/a).
Server RSS after the run: VmRSS right after the load generator finished (no GC asked for);
each run's start and peak (VmHWM) RSS and the bytes on the wire per payload byte are listed
below.` : ''}`;

/**
 * The realtime layer against socket.io: one server script (servers/realtime.mjs) on either
 * implementation; the load generator speaks Socket.IO v5 over Engine.IO v4 (--proto sio).
 */
const REALTIME_CONTENDERS = [
  { key: 'fullduplex', label: 'fullduplex/realtime', script: 'realtime.mjs', proto: 'sio', env: { REALTIME: 'fullduplex' }, expect: 'impl=fullduplex' },
  { key: 'socket.io', label: 'socket.io', script: 'realtime.mjs', proto: 'sio', env: { REALTIME: 'socket.io', WS_NO_BUFFER_UTIL: '1' }, expect: 'impl=socket.io bufferutil=0' },
  { key: 'socket.io-bufferutil', label: 'socket.io + bufferutil', script: 'realtime.mjs', proto: 'sio', env: { REALTIME: 'socket.io' }, expect: 'impl=socket.io bufferutil=1' },
];

const REALTIME_SCENARIOS = [
  {
    key: 'sio-echo', mode: 'echo', server: 'echo',
    full: { conns: 64, inflight: 16, size: 48 }, smoke: { conns: 4, inflight: 4, size: 48 },
    rows: (p) => [{ label: `event echo, ${size(p.size)} string, ${p.conns} conns x ${p.inflight} in flight`, metric: 'msgs_per_s', unit: 'events/s', better: 'higher' }],
  },
  {
    key: 'sio-broadcast', mode: 'broadcast', server: 'broadcast',
    full: { conns: 1000, inflight: 32, size: 48 }, smoke: { conns: 10, inflight: 4, size: 48 },
    rows: (p) => [{ label: `room broadcast, ${size(p.size)} string to ${count(p.conns)} receivers (${p.inflight} events in flight)`, metric: 'deliveries_per_s', unit: 'deliveries/s', better: 'higher' }],
  },
];

const REALTIME_NOTES = () => `Both servers run bench/servers/realtime.mjs, the same code on fullduplex/realtime's Server
and on socket.io's, with the same options: the WebSocket transport only, no permessage-deflate
(socket.io's default) and \`rateLimit: false\` (fullduplex limits a connection to 100 packets/s by
default; socket.io has no limit and ignores the option). socket.io's Engine.IO runs on ws, with
and without bufferutil. The load generator connects straight to the WebSocket transport
(\`/socket.io/?EIO=4&transport=websocket\`), answers the Engine.IO open packet with a Socket.IO
CONNECT, waits for the server's, answers PINGs, and sends events \`42["echo","<string>"]\`.
Event echo: the server runs \`socket.on('echo', (d) => socket.emit('echo', d))\`. Room broadcast:
every socket joins 'room'; one sender's \`broadcast\` event makes the server run
\`socket.to('room').emit('broadcast', d)\`; deliveries/s are counted at the receivers, each of which
checks every event in order (the sender keeps at most --inflight events' worth of deliveries
outstanding).`;

export const SUITES = {
  core: { results: 'results', title: 'fullduplex benchmark results', packages: ['ws'], contenders: CORE_CONTENDERS, scenarios: CORE_SCENARIOS, notes: CORE_NOTES,
    ratios: [['fullduplex/ws', 'fullduplex', 'ws'], ['fullduplex/(ws+bufferutil)', 'fullduplex', 'ws-bufferutil'], ['fullduplex/ceiling', 'fullduplex', 'net']] },
  realtime: { results: 'results-realtime', title: 'fullduplex/realtime benchmark results', packages: ['socket.io', 'engine.io', 'ws'],
    contenders: REALTIME_CONTENDERS, scenarios: REALTIME_SCENARIOS, notes: REALTIME_NOTES,
    ratios: [['fullduplex/socket.io', 'fullduplex', 'socket.io'], ['fullduplex/(socket.io+bufferutil)', 'fullduplex', 'socket.io-bufferutil']] },
};
