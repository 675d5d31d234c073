/*
 * bench/loadgen-sio.c: Socket.IO v5 over Engine.IO v4, the packets of a WebSocket-only session.
 *
 * References (https://github.com/socketio/engine.io-protocol, 4th version; and
 * https://github.com/socketio/socket.io-protocol, 5th version):
 *   Engine.IO "Transports" > "WebSocket": GET /socket.io/?EIO=4&transport=websocket upgrades at
 *     once; "Packet encoding" > "WebSocket": one packet per WebSocket message, text packets in
 *     text frames, <type digit><data>.
 *   Engine.IO "Protocol" > "Handshake": the server's first packet is OPEN, 0{"sid":...,
 *     "upgrades":[...],"pingInterval":...,"pingTimeout":...,"maxPayload":...}.
 *   Engine.IO "Protocol" > "Heartbeat": the server sends PING (2) every pingInterval, the client
 *     answers PONG (3). NOOP (6) may come and means nothing.
 *   Engine.IO "Protocol" > "Message": 4<data>, here a Socket.IO packet.
 *   Socket.IO "Exchange protocol" > "Connection to a namespace": the client sends CONNECT (40 on
 *     the wire for the main namespace "/"), the server answers 40{"sid":"..."} or CONNECT_ERROR
 *     (44{"message":...}).
 *   Socket.IO "Exchange protocol" > "Sending and receiving data", "Packet encoding" > "Format":
 *     EVENT, 42["<event>",<args>] for the main namespace and no acknowledgement id.
 *
 * The event's one argument is a JSON string of exactly `size` ASCII bytes that need no JSON
 * escaping, so a server that re-encodes it (JSON.stringify) sends back the bytes it was sent:
 *   bytes 0..15   the sequence number, 16 lowercase hex digits
 *   bytes 16..31  the aux word (seq ^ AUX_XOR, or the latency schedule), 16 lowercase hex digits
 *   bytes 32..    letters and digits that change with the sequence number
 */
#define _GNU_SOURCE /* memmem */
#include "loadgen-sio.h"

#include <stdio.h>
#include <string.h>

static const char ALNUM[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
static const char HEX[] = "0123456789abcdef";

static uint8_t payload_byte(uint64_t seq, size_t i) { return (uint8_t)ALNUM[(i * 7u + seq * 167u + 13u) % 62u]; }

static size_t prefix_len(const char *event) { return 4 + strlen(event) + 3; } /* 42[" event "," */

size_t sio_event_len(const char *event, size_t size) { return prefix_len(event) + size + 2; }

static void put_hex16(uint8_t *p, uint64_t v) {
  for (int i = 15; i >= 0; i--, v >>= 4) p[i] = (uint8_t)HEX[v & 15];
}

static int get_hex16(const uint8_t *p, uint64_t *out) {
  uint64_t v = 0;
  for (int i = 0; i < 16; i++) {
    const char *d = p[i] ? strchr(HEX, p[i]) : NULL;
    if (!d) return 0;
    v = v << 4 | (uint64_t)(d - HEX);
  }
  *out = v;
  return 1;
}

size_t sio_event_build(uint8_t *out, const char *event, size_t size, uint64_t seq, uint64_t aux) {
  size_t el = strlen(event), o = prefix_len(event);
  memcpy(out, "42[\"", 4);
  memcpy(out + 4, event, el);
  memcpy(out + 4 + el, "\",\"", 3);
  put_hex16(out + o, seq);
  put_hex16(out + o + 16, aux);
  for (size_t i = SIO_MIN_SIZE; i < size; i++) out[o + i] = payload_byte(seq, i);
  o += size;
  memcpy(out + o, "\"]", 2);
  return o + 2;
}

static int starts(const uint8_t *m, size_t n, const char *lit) {
  size_t l = strlen(lit);
  return n >= l && memcmp(m, lit, l) == 0;
}

int sio_classify(const uint8_t *m, size_t n, char *why, size_t why_len) {
  int shown = n > 200 ? 200 : (int)n;
  if (starts(m, n, "42[")) return SIO_EVENT;
  if (n == 1 && m[0] == '2') return SIO_PING;
  if (n == 1 && m[0] == '6') return SIO_NOOP;
  if (n > SIO_CTRL_MAX) {
    snprintf(why, why_len, "unexpected %zu-byte packet '%.40s...'", n, (const char *)m);
    return -1;
  }
  if (starts(m, n, "0{") && memmem(m, n, "\"sid\":\"", 7)) return SIO_OPEN;
  if (starts(m, n, "40{\"sid\":\"")) return SIO_CONNECTED;
  if (starts(m, n, "44")) snprintf(why, why_len, "the server refused the Socket.IO CONNECT: '%.*s'", shown, (const char *)m);
  else if (starts(m, n, "41")) snprintf(why, why_len, "the server disconnected the Socket.IO socket: '%.*s'", shown, (const char *)m);
  else if (starts(m, n, "1")) snprintf(why, why_len, "the server closed the Engine.IO session: '%.*s'", shown, (const char *)m);
  else snprintf(why, why_len, "unexpected Engine.IO / Socket.IO packet '%.*s'", shown, (const char *)m);
  return -1;
}

int sio_event_check(const uint8_t *m, size_t n, const char *event, size_t size, int full, uint64_t *seq,
                    uint64_t *aux, char *why, size_t why_len) {
  size_t el = strlen(event), pre = prefix_len(event), want = sio_event_len(event, size);
  int shown = n > 120 ? 120 : (int)n;
  if (n != want) {
    snprintf(why, why_len, "%zu bytes, expected %zu: '%.*s'", n, want, shown, (const char *)m);
    return -1;
  }
  if (memcmp(m, "42[\"", 4) != 0 || memcmp(m + 4, event, el) != 0 || memcmp(m + 4 + el, "\",\"", 3) != 0 ||
      memcmp(m + n - 2, "\"]", 2) != 0) {
    snprintf(why, why_len, "not a 42[\"%s\",\"...\"] event: '%.*s'", event, shown, (const char *)m);
    return -1;
  }
  const uint8_t *p = m + pre;
  if (!get_hex16(p, seq) || !get_hex16(p + 16, aux)) {
    snprintf(why, why_len, "the payload does not start with two 16-digit hex words: '%.*s'", shown, (const char *)m);
    return -1;
  }
  size_t from = full ? SIO_MIN_SIZE : size - 1; /* every letter and digit, or the last one */
  if (from < SIO_MIN_SIZE) from = SIO_MIN_SIZE;
  for (size_t i = from; i < size; i++) {
    uint8_t expected = payload_byte(*seq, i);
    if (p[i] != expected) {
      snprintf(why, why_len, "payload byte %zu of message seq %llu: expected '%c', got 0x%02x", i,
               (unsigned long long)*seq, expected, p[i]);
      return -1;
    }
  }
  return 0;
}
