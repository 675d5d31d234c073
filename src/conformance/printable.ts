/**
 * Text that came from the peer under test (a status line, a header value, a close reason) made
 * safe to print: control characters and other invisible or reordering code points are escaped,
 * and the result is cut to a bounded length, so a hostile server cannot write terminal escape
 * sequences into the report or flood it.
 */

/** Default length limit, in characters, of a printed value. */
export const PRINT_LIMIT = 200;

// C0 controls, DEL, C1 controls, line/paragraph separators, bidi embeddings/overrides/isolates,
// zero-width characters and the BOM.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/gu;

/** `text` with unsafe characters as \xNN / \uNNNN and at most `max` characters (then a note). */
export function printable(text: string, max = PRINT_LIMIT): string {
  const cut = text.length > max ? text.slice(0, max) : text;
  const escaped = cut.replace(UNSAFE, (c) => {
    const code = c.codePointAt(0)!;
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
  return text.length > max ? `${escaped}... (${text.length - max} more characters)` : escaped;
}
