/**
 * The demo page: seed 002's browser example (an input, a button and a div) talking to the
 * server over `new WebSocket('ws://' + location.host + '/ws')`. Plain HTML, inline CSS and
 * script, sized for a phone as well as a desktop.
 */
import { createHash } from 'node:crypto';

const STYLE = `
  :root { color-scheme: light dark; --accent: #2563eb; --muted: #6b7280; --line: #d1d5db; }
  * { box-sizing: border-box; }
  body { margin: 0; min-height: 100vh; display: grid; place-items: start center;
         font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
         background: Canvas; color: CanvasText; }
  main { width: 100%; max-width: 28rem; padding: 2rem 1.25rem; }
  h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
  p.lead { margin: 0 0 1.5rem; color: var(--muted); }
  form { display: flex; gap: .5rem; }
  input { flex: 1; min-width: 0; font: inherit; padding: .65rem .8rem;
          border: 1px solid var(--line); border-radius: .5rem; background: Field; color: FieldText; }
  input:focus { outline: 2px solid var(--accent); outline-offset: 1px; border-color: transparent; }
  button { font: inherit; font-weight: 600; padding: .65rem 1.1rem; border: 0; border-radius: .5rem;
           background: var(--accent); color: #fff; cursor: pointer; }
  button:disabled { opacity: .5; cursor: default; }
  #reply { margin-top: 1.25rem; min-height: 3.25rem; padding: .8rem 1rem; border-radius: .5rem;
           border: 1px dashed var(--line); font-size: 1.25rem; font-weight: 600; overflow-wrap: anywhere; }
  #reply:empty::before { content: "The server's reply appears here."; color: var(--muted);
           font-size: 1rem; font-weight: 400; }
  #status { margin-top: 1rem; font-size: .875rem; color: var(--muted); }
  #status::before { content: ""; display: inline-block; width: .6rem; height: .6rem; margin-right: .4rem;
           border-radius: 50%; background: #f59e0b; }
  #status[data-state="open"]::before { background: #16a34a; }
  #status[data-state="closed"]::before { background: #dc2626; }
`;

const SCRIPT = `
  const form = document.getElementById('form');
  const input = document.getElementById('message');
  const button = document.getElementById('send');
  const reply = document.getElementById('reply');
  const statusLine = document.getElementById('status');
  let ws;
  let attempts = 0;

  function setStatus(state, text) {
    statusLine.dataset.state = state;
    statusLine.textContent = text;
    button.disabled = state !== 'open';
  }

  function connect() {
    setStatus('connecting', 'Connecting…');
    ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
    ws.addEventListener('open', function () {
      attempts = 0;
      setStatus('open', 'Connected');
    });
    ws.addEventListener('message', function (e) {
      reply.textContent = e.data;
    });
    ws.addEventListener('close', function () {
      const delay = Math.min(500 * 2 ** attempts++, 8000);
      setStatus('closed', 'Disconnected, retrying in ' + delay / 1000 + ' s');
      setTimeout(connect, delay);
    });
  }

  form.addEventListener('submit', function (e) {
    e.preventDefault();
    if (ws.readyState === WebSocket.OPEN) ws.send(input.value);
    input.select();
  });

  connect();
`;

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
}

/** The page's HTML. */
export const PAGE_HTML: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fullduplex demo</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<main>
  <h1>fullduplex demo</h1>
  <p class="lead">Type something: the server answers over a WebSocket, in capitals.</p>
  <form id="form" autocomplete="off">
    <input id="message" name="message" value="hello" aria-label="Message" maxlength="1000">
    <button id="send" type="submit" disabled>Send</button>
  </form>
  <div id="reply" role="status" aria-live="polite"></div>
  <div id="status" data-state="connecting">Connecting…</div>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;

/** Content-Security-Policy allowing exactly the inline style and script above. */
export const PAGE_CSP: string = [
  "default-src 'none'",
  `style-src ${sha256(STYLE)}`,
  `script-src ${sha256(SCRIPT)}`,
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
