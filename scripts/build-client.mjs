/**
 * Builds the browser bundles of the realtime client (src/realtime/client) with esbuild, into
 * dist/browser/, minified, each with an external source map:
 *
 * - socket.io.js: a classic script setting the global `io`, with `io.io`, `io.connect`,
 *   `io.Manager` and `io.Socket` (what socket.io-client's dist/socket.io.js gives);
 * - socket.io.esm.min.js: an ES module exporting io (also as default), connect, Manager, Socket.
 *
 * The client's Node-only parts live in src/realtime/platform.ts; the plugin below swaps in its
 * browser twin platform.browser.ts and refuses any `node:` import. `npm run build` runs this
 * after tsc; `node scripts/build-client.mjs` runs it alone.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLIENT_DIR = path.join(ROOT, 'src/realtime/client');
const NODE_PLATFORM = path.join(ROOT, 'src/realtime/platform.js');
const BROWSER_PLATFORM = path.join(ROOT, 'src/realtime/platform.browser.ts');
export const OUT_DIR = path.join(ROOT, 'dist/browser');

/** The classic script's entry: socket.io-client's global `io` is the lookup function with these names on it. */
const GLOBAL_ENTRY = `import { io, Manager, Socket } from './index.ts';
globalThis.io = Object.assign(io, { io, connect: io, Manager, Socket });
`;

const browserPlatform = {
  name: 'browser-platform',
  setup(b) {
    b.onResolve({ filter: /(^|\/)platform\.js$/ }, (args) =>
      path.resolve(args.resolveDir, args.path) === NODE_PLATFORM ? { path: BROWSER_PLATFORM } : undefined,
    );
    b.onResolve({ filter: /^node:/ }, (args) => ({
      errors: [{ text: `${args.path} (imported by ${path.relative(ROOT, args.importer)}) cannot run in a browser; put the difference in src/realtime/platform*.ts` }],
    }));
  },
};

const COMMON = {
  absWorkingDir: ROOT,
  bundle: true,
  minify: true,
  sourcemap: 'linked',
  platform: 'browser',
  target: 'es2020',
  legalComments: 'none',
  charset: 'utf8',
  logLevel: 'warning',
  plugins: [browserPlatform],
};

/** Builds both bundles into `outdir`; resolves to the paths written. */
export async function buildClient(outdir = OUT_DIR) {
  const results = await Promise.all([
    build({
      ...COMMON,
      stdin: { contents: GLOBAL_ENTRY, resolveDir: CLIENT_DIR, sourcefile: 'global-entry.js', loader: 'js' },
      format: 'iife',
      outfile: path.join(outdir, 'socket.io.js'),
      metafile: true,
    }),
    build({
      ...COMMON,
      entryPoints: [path.join(CLIENT_DIR, 'index.ts')],
      format: 'esm',
      outfile: path.join(outdir, 'socket.io.esm.min.js'),
      metafile: true,
    }),
  ]);
  return results.flatMap((r) => Object.keys(r.metafile.outputs).map((f) => path.resolve(ROOT, f)));
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = performance.now();
  const files = await buildClient();
  console.log(`client bundles: ${files.map((f) => path.relative(ROOT, f)).join(', ')} (${Math.round(performance.now() - started)} ms)`);
}
