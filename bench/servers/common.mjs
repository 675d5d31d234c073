/**
 * What every benchmark server shares: argument parsing (`--deflate`, a flag without a value,
 * turns permessage-deflate on with the library's defaults), where our build is, the READY
 * line, and the stdin control channel the runner uses ("gc" runs a full GC, when node runs
 * with --expose-gc, and answers "GC <rss> <heapUsed> <external> <arrayBuffers>"; EOF on stdin
 * ends the process, so a server never outlives its runner).
 */
export function parseArgs(argv = process.argv.slice(2)) {
  const args = { mode: 'echo', port: 0, host: '127.0.0.1', deflate: false };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i];
    if (name === '--deflate') {
      args.deflate = true;
      continue;
    }
    const value = argv[++i];
    if (value === undefined) throw new Error(`${name} needs a value`);
    if (name === '--mode') args.mode = value;
    else if (name === '--port') args.port = Number(value);
    else if (name === '--host') args.host = value;
    else throw new Error(`unknown option ${name} (--mode echo|broadcast, --port N, --host H, --deflate)`);
  }
  if (args.mode !== 'echo' && args.mode !== 'broadcast') throw new Error(`--mode must be echo or broadcast, not ${args.mode}`);
  return args;
}

/** The URL of a module of our build: FULLDUPLEX_DIST (a file URL of a dist/ directory, ending in /) or dist/. */
export function distModule(file) {
  return new URL(file, process.env.FULLDUPLEX_DIST ?? new URL('../../dist/', import.meta.url)).href;
}

export function ready(port, extra = '') {
  process.stdout.write(`READY ${port}${extra ? ' ' + extra : ''}\n`);
  let pending = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => {
    pending += chunk;
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (line === 'gc') {
        if (typeof globalThis.gc === 'function') globalThis.gc();
        const m = process.memoryUsage();
        process.stdout.write(`GC ${m.rss} ${m.heapUsed} ${m.external} ${m.arrayBuffers}\n`);
      }
    }
  });
  process.stdin.on('end', () => process.exit(0));
}
