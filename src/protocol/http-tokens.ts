/**
 * Hand-written, linear-time parsers for the header grammars the handshake uses
 * (RFC 7230 section 3.2.6 tokens and quoted strings, section 7 list rules; RFC 6455
 * sections 4.3 and 9.1). No regular expressions with backtracking: a long crafted value
 * costs time proportional to its length (ws CVE-2021-32640, websocket-extensions CVE-2020-7662).
 */

/** tchar lookup: "!#$%&'*+-.^_`|~", DIGIT, ALPHA (RFC 7230 section 3.2.6). */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

function isTchar(code: number): boolean {
  return code < 128 && TCHAR[code] === 1;
}

/** Whether `s` is a non-empty RFC 7230 token. */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!isTchar(s.charCodeAt(i))) return false;
  return true;
}

function isOws(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/**
 * Splits a comma-separated header list into trimmed, non-empty elements
 * (RFC 7230 section 7: empty elements are ignored). Elements are not checked.
 */
export function splitList(value: string): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i <= value.length; i++) {
    if (i === value.length || value.charCodeAt(i) === 0x2c) {
      let a = start;
      let b = i;
      while (a < b && isOws(value.charCodeAt(a))) a++;
      while (b > a && isOws(value.charCodeAt(b - 1))) b--;
      if (b > a) out.push(value.slice(a, b));
      start = i + 1;
    }
  }
  return out;
}

/** Whether a list header (Connection, Upgrade) contains `token`, compared case-insensitively. */
export function listHas(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  const want = token.toLowerCase();
  for (const element of splitList(value)) if (element.toLowerCase() === want) return true;
  return false;
}

/**
 * Parses Sec-WebSocket-Protocol (RFC 6455 section 4.3: `1#token`). Returns the names in
 * order, or null if an element is not a token, a name repeats, or the list is empty.
 */
export function parseProtocolList(value: string): string[] | null {
  const names = splitList(value);
  if (names.length === 0) return null;
  const seen = new Set<string>();
  for (const name of names) {
    if (!isToken(name) || seen.has(name)) return null;
    seen.add(name);
  }
  return names;
}

/** One element of Sec-WebSocket-Extensions: a name and its parameters, in order. */
export interface ExtensionOffer {
  name: string;
  /** `[name, value]` pairs; a parameter without a value has value `true`. Duplicates are kept. */
  params: Array<[string, string | true]>;
}

/**
 * Parses Sec-WebSocket-Extensions (RFC 6455 section 9.1):
 *
 *   extension-list  = 1#extension
 *   extension       = extension-token *( ";" extension-param )
 *   extension-param = token [ "=" (token | quoted-string) ]
 *
 * A quoted-string value must be a token once unescaped (section 9.1). Optional whitespace is
 * accepted around the delimiters. Returns null on any syntax error. The result holds plain
 * arrays, so names such as `__proto__` are just data.
 */
export function parseExtensions(value: string): ExtensionOffer[] | null {
  const offers: ExtensionOffer[] = [];
  const n = value.length;
  let i = 0;
  const skipOws = (): void => {
    while (i < n && isOws(value.charCodeAt(i))) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && isTchar(value.charCodeAt(i))) i++;
    return value.slice(start, i);
  };
  const readQuoted = (): string | null => {
    i++; // opening DQUOTE
    let out = '';
    while (i < n) {
      const c = value.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return out;
      }
      if (c === 0x5c) {
        i++; // quoted-pair: the next character stands for itself
        if (i >= n) return null;
      }
      out += value[i];
      i++;
    }
    return null; // unterminated
  };

  while (i < n) {
    skipOws();
    if (i < n && value.charCodeAt(i) === 0x2c) {
      i++; // empty list element
      continue;
    }
    if (i >= n) break;
    const name = readToken();
    if (name === '') return null;
    const offer: ExtensionOffer = { name, params: [] };
    skipOws();
    while (i < n && value.charCodeAt(i) === 0x3b) {
      i++;
      skipOws();
      const param = readToken();
      if (param === '') return null;
      skipOws();
      if (i < n && value.charCodeAt(i) === 0x3d) {
        i++;
        skipOws();
        let v: string | null;
        if (i < n && value.charCodeAt(i) === 0x22) {
          v = readQuoted();
          if (v === null || !isToken(v)) return null;
        } else {
          v = readToken();
          if (v === '') return null;
        }
        offer.params.push([param, v]);
        skipOws();
      } else {
        offer.params.push([param, true]);
      }
    }
    offers.push(offer);
    if (i < n) {
      if (value.charCodeAt(i) !== 0x2c) return null;
      i++;
    }
  }
  return offers.length > 0 ? offers : null;
}

/** Formats one extension for a Sec-WebSocket-Extensions header. */
export function formatExtension(offer: ExtensionOffer): string {
  let out = offer.name;
  for (const [name, value] of offer.params) out += value === true ? `; ${name}` : `; ${name}=${value}`;
  return out;
}
