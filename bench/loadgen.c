/*
 * bench/loadgen.c: a single-threaded epoll load generator for WebSocket servers (RFC 6455
 * client role) and for the length-prefixed "raw" protocol of bench/servers/net-ceiling.mjs.
 *
 * Built by bench/run.mjs with `gcc -O2 -o bench/.build/loadgen bench/loadgen.c -lz`.
 * Usage: loadgen --mode echo|latency|connect|idle|broadcast [options]   (see usage() below)
 * Prints one line of JSON on stdout per run; errors go to stderr with a non-zero exit:
 *   1 usage/setup/connection error, 2 a server answered wrongly (echo mismatch, bad frame,
 *   bad handshake), 3 timeout or stall.
 *
 * Message payloads (both protocols, size >= 16 bytes):
 *   bytes 0..7   sequence number of the message on its connection (little endian)
 *   bytes 8..15  latency mode: the scheduled send time (CLOCK_MONOTONIC ns); else seq ^ AUX_XOR
 *   bytes 16..   pattern[i] ^ kbyte(seq): a fixed pattern that differs from message to message
 * Every received message has its length, sequence number, bytes 8..15 and last byte checked;
 * every `--verify-every`-th message (by sequence number) has every byte checked.
 *
 * `--payload json` (WebSocket only) sends text messages instead: a JSON array of small
 * objects, exactly --size bytes of ASCII (so valid UTF-8), built from a template by
 * json_build(): it opens with [{"seq":"<16 hex>","aux":"<16 hex>"}, (aux as above), its
 * objects' values (ids, users, rooms, words, timestamps) change with the sequence number, and
 * it ends with {"pad":"xx..","end":"<16 hex: seq again>"}]. Every echo's length, both
 * sequence numbers and the aux word are checked; every --verify-every-th byte for byte.
 *
 * `--deflate` (WebSocket only) offers permessage-deflate (RFC 7692) with
 * client_max_window_bits, fails unless the server accepts it, compresses every message it
 * sends (raw deflate, Z_SYNC_FLUSH, trailing 00 00 FF FF removed, RSV1 set; the context is
 * kept across messages unless the server asks for client_no_context_takeover) and inflates
 * the server's RSV1 messages (00 00 FF FF appended; reset per message on
 * server_no_context_takeover) before the checks above. It reports the bytes on the wire
 * against the payload bytes, both ways.
 *
 * `--proto sio` speaks Socket.IO v5 over Engine.IO v4 on the WebSocket transport only
 * (loadgen-sio.c has the packets and the protocol references): the handshake is the 101, the
 * Engine.IO open packet, our CONNECT (40) and the server's 40{"sid":...}; PINGs (2) are
 * answered with PONGs (3); every message is an event 42["echo","<payload>"] (broadcast mode:
 * 42["broadcast",...]) whose string payload carries the sequence number and aux word in hex
 * and letters and digits that change with it. Every event's length, text around the payload,
 * both words and last byte are checked; every --verify-every-th byte for byte.
 *
 * Raw protocol: each message is a 4-byte big-endian length followed by the payload, no mask.
 * The raw server greets each connection with an empty message; that is its "handshake".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "loadgen-sio.h"

enum { M_ECHO, M_LATENCY, M_CONNECT, M_IDLE, M_BROADCAST };
enum { P_WS, P_RAW };
enum { ST_FREE, ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_CLOSED };
enum { PS_HDR, PS_PAYLOAD };

#define EXIT_SETUP 1
#define EXIT_WRONG 2
#define EXIT_TIMEOUT 3

#define RBUF_SIZE (1u << 20)
#define HS_MAX 8192
#define SKIP_MIN (128u * 1024u) /* bytes left in a frame worth a MSG_TRUNC recv */
#define MAX_EVENTS 1024
#define AUX_XOR 0xA5A5A5A55A5A5A5AULL
#define STALL_NS (10ULL * 1000000000ULL)
#define HEAD_LEN 64   /* bytes kept from the start of every message (binary: 16 used; JSON: 53) */
#define TAIL_LEN 32   /* JSON: bytes kept from the end of every message */
#define IBUF_SIZE (64u * 1024u)

static const char *const MODE_NAMES[] = {"echo", "latency", "connect", "idle", "broadcast"};

static struct {
  int mode, proto;
  const char *host, *path;
  int port;
  int conns;        /* echo/latency: connections; connect/idle: total; broadcast: receivers */
  int inflight;     /* echo: messages in flight per connection; broadcast: messages in flight */
  size_t size;      /* payload bytes per message */
  double duration, warmup, rate, timeout, grace, hold;
  int max_pending;  /* connections in progress (connect + handshake) at once */
  uint64_t verify_every;
  int json;         /* --payload json: text messages, JSON-like */
  int sio;          /* --proto sio: Socket.IO events over the WebSocket framing */
  int deflate;      /* --deflate: permessage-deflate */
  int zlevel;       /* --deflate-level */
} opt = {
  .mode = -1, .proto = P_WS, .host = "127.0.0.1", .path = "/", .port = 0, .conns = 1,
  .inflight = 1, .size = 32, .duration = 5, .warmup = 1, .rate = 10000, .timeout = 0,
  .grace = 2, .hold = 0, .max_pending = 256, .verify_every = 64, .json = 0, .deflate = 0, .zlevel = 1,
};

typedef struct conn {
  int fd, idx, state, is_sender, dirty;
  uint32_t events;               /* what epoll watches now */
  uint8_t *out;                  /* bytes to write: [out_off, out_len) */
  size_t out_off, out_len, out_cap;
  char *hs;                      /* handshake response being read (ws) */
  size_t hs_len;
  char accept[32];               /* expected Sec-WebSocket-Accept */
  /* frame parser */
  int ps, hdr_have, hdr_need, ctrl, fin, in_msg, sampled;
  uint8_t hdr[14];
  uint64_t frame_left, msg_off;
  uint8_t head[HEAD_LEN], last;
  uint8_t tail[TAIL_LEN];        /* JSON: the last TAIL_LEN bytes of the message */
  uint8_t *msgbuf;               /* JSON: a sampled message, kept for the byte-for-byte check; sio: every message */
  int eio;                       /* sio, after the 101: 1 waiting for the open packet, 2 for the CONNECT reply, 3 connected */
  uint8_t ctrl_buf[125];
  int ctrl_len, ctrl_op;
  uint64_t send_seq, recv_seq;
  /* permessage-deflate, as the server's 101 response agreed it */
  int pmd, c_nct, s_nct, c_bits, s_bits;
  int compressed;                /* the message being received had RSV1 on its first frame */
  z_stream *zd, *zi;             /* our compressor, the server's decompressor (allocated on first use) */
} conn;

static conn *conns;
static int nconns;
static int ep = -1, tfd = -1;
static uint8_t *rbuf, *pattern;
static struct sockaddr_in addr;
static uint64_t t_start, t_now, hard_deadline;
static int closing;
static int inprogress, opened, next_connect;
static uint64_t rng_state;
static char sentinel_timer, sentinel_stdin;
static const char *sio_event = "echo"; /* --proto sio: the event sent and expected back ("broadcast" in that mode) */
static size_t sio_msg_max;             /* --proto sio: the longest message accepted */

/* counters */
static uint64_t n_msgs, n_bytes, n_deliveries, n_checked, n_full;
/* wire accounting (all data messages, every mode): frame bytes vs payload bytes, both ways */
static uint64_t n_wire_tx, n_payload_tx, n_wire_rx, n_payload_rx, n_rx_compressed, n_rx_msgs;
static uint8_t *sbuf, *zbuf, *ibuf, *expect; /* scratch: plaintext to send, compressed, inflated, expected */
static size_t zcap;
static uint64_t last_progress;

/* latency mode */
static uint64_t *lat, *lag;
static size_t lat_n, lat_cap, lag_n, lag_cap;
static uint64_t lat_win_start, lat_win_end, lat_sent_in_win, lat_recv_in_win;

static void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("loadgen: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(code);
}

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t rng64(void) { /* xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545F4914F6CDD1DULL;
}

static uint8_t kbyte(uint64_t seq) { return (uint8_t)(seq * 167u + 13u); }

static void put_le64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

/* ---------- JSON-like text payloads (--payload json) ---------- */

/*
 * A template of exactly --size bytes is built once; json_build() copies it and writes the
 * fields that change with the sequence number, all fixed width (numbers without leading
 * zeros: 8 and 10 digits), so every message has the same length and layout:
 *   [{"seq":"<16 hex>","aux":"<16 hex>"},
 *    {"id":NNNNNNNN,"user":"user_HH","room":"RRRRR","text":"WWWWW WWWWW WWWWW","ts":TTTTTTTTTT,"read":B}, ...
 *    {"pad":"xxxx","end":"<16 hex, seq again>"}]
 */
#define JSON_P0 "[{\"seq\":\""
#define JSON_P1 "\",\"aux\":\""
#define JSON_P2 "\"},"
#define JSON_SEQ_OFF 9
#define JSON_AUX_OFF 34
#define JSON_OBJS_OFF 53
#define JSON_END_LIT "\",\"end\":\""
#define JSON_END_LEN 28 /* JSON_END_LIT + 16 hex + "}] */
#define JSON_MIN_SIZE (JSON_OBJS_OFF + 8 + JSON_END_LEN)

static uint8_t *json_tpl;
static size_t json_nobj, json_objlen, jr_id, jr_user, jr_room, jr_text, jr_ts, jr_read;
static const char WORDS[16][6] = {"hello", "world", "about", "water", "later", "green", "sound", "table",
                                  "under", "light", "quick", "brown", "jumps", "ready", "share", "north"};
static const char ROOMS[8][6] = {"lobby", "games", "music", "films", "books", "sport", "plans", "ideas"};

static uint64_t mix64(uint64_t x) { /* splitmix64 finaliser */
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

static void put_hex(uint8_t *p, uint64_t v, int digits) {
  static const char hx[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; i--, v >>= 4) p[i] = (uint8_t)hx[v & 15];
}

static int get_hex16(const uint8_t *p, uint64_t *out) {
  uint64_t v = 0;
  for (int i = 0; i < 16; i++) {
    uint8_t ch = p[i];
    if (ch >= '0' && ch <= '9') v = v << 4 | (uint64_t)(ch - '0');
    else if (ch >= 'a' && ch <= 'f') v = v << 4 | (uint64_t)(ch - 'a' + 10);
    else return 0;
  }
  *out = v;
  return 1;
}

static void put_dec(uint8_t *p, uint64_t v, int digits) {
  for (int i = digits - 1; i >= 0; i--, v /= 10) p[i] = (uint8_t)('0' + v % 10);
}

static void tpl_add(size_t *o, const char *s) {
  size_t n = strlen(s);
  memcpy(json_tpl + *o, s, n);
  *o += n;
}

static void json_init(void) {
  size_t S = opt.size, o = 0;
  json_tpl = malloc(S);
  if (!json_tpl) die(EXIT_SETUP, "out of memory");
  tpl_add(&o, JSON_P0); tpl_add(&o, "0000000000000000");
  tpl_add(&o, JSON_P1); tpl_add(&o, "0000000000000000");
  tpl_add(&o, JSON_P2);
  if (o != JSON_OBJS_OFF) die(EXIT_SETUP, "JSON template self-test failed");
  /* one object, to learn its length and field offsets */
  uint8_t *saved = json_tpl;
  uint8_t obj[256];
  json_tpl = obj;
  size_t r = 0;
  tpl_add(&r, "{\"id\":"); jr_id = r; tpl_add(&r, "10000000");
  tpl_add(&r, ",\"user\":\"user_"); jr_user = r; tpl_add(&r, "00");
  tpl_add(&r, "\",\"room\":\""); jr_room = r; tpl_add(&r, "lobby");
  tpl_add(&r, "\",\"text\":\""); jr_text = r; tpl_add(&r, "hello hello hello");
  tpl_add(&r, "\",\"ts\":"); jr_ts = r; tpl_add(&r, "1700000000");
  tpl_add(&r, ",\"read\":"); jr_read = r; tpl_add(&r, "0");
  tpl_add(&r, "},");
  json_tpl = saved;
  json_objlen = r;
  while (o + json_objlen + 8 + JSON_END_LEN <= S) {
    memcpy(json_tpl + o, obj, json_objlen);
    o += json_objlen;
    json_nobj++;
  }
  tpl_add(&o, "{\"pad\":\"");
  while (o < S - JSON_END_LEN) json_tpl[o++] = 'x';
  tpl_add(&o, JSON_END_LIT); tpl_add(&o, "0000000000000000"); tpl_add(&o, "\"}]");
  if (o != S) die(EXIT_SETUP, "JSON template self-test failed (%zu of %zu bytes)", o, S);
}

/* The text of message `seq` (exactly opt.size bytes) into out. */
static void json_build(uint64_t seq, uint64_t aux, uint8_t *out) {
  size_t S = opt.size;
  memcpy(out, json_tpl, S);
  put_hex(out + JSON_SEQ_OFF, seq, 16);
  put_hex(out + JSON_AUX_OFF, aux, 16);
  uint64_t base = seq * json_nobj;
  for (size_t i = 0; i < json_nobj; i++) {
    uint8_t *o = out + JSON_OBJS_OFF + i * json_objlen;
    uint64_t h = mix64(base + i);
    put_dec(o + jr_id, 10000000 + (base + i) % 90000000, 8);
    put_hex(o + jr_user, h & 0xff, 2);
    memcpy(o + jr_room, ROOMS[(h >> 8) & 7], 5);
    memcpy(o + jr_text, WORDS[(h >> 11) & 15], 5);
    memcpy(o + jr_text + 6, WORDS[(h >> 15) & 15], 5);
    memcpy(o + jr_text + 12, WORDS[(h >> 19) & 15], 5);
    put_dec(o + jr_ts, 1700000000 + (base + i) % 1000000000, 10);
    o[jr_read] = (uint8_t)('0' + ((h >> 23) & 1));
  }
  put_hex(out + S - 19, seq, 16);
}

/* The binary payload of message `seq`, unmasked (what queue_msg's fast path writes masked). */
static void pattern_build(uint64_t seq, uint64_t aux, uint8_t *out) {
  put_le64(out, seq);
  put_le64(out + 8, aux);
  uint8_t kb = kbyte(seq);
  for (size_t i = 16; i < opt.size; i++) out[i] = pattern[i] ^ kb;
}

/* ---------- SHA-1 (FIPS 180-4) and base64, for Sec-WebSocket-Accept ---------- */

static uint32_t rol32(uint32_t x, int s) { return (x << s) | (x >> (32 - s)); }

static void sha1_block(uint32_t h[5], const uint8_t *p) {
  uint32_t w[80];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
           (uint32_t)p[4 * i + 3];
  for (int i = 16; i < 80; i++) w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
  for (int i = 0; i < 80; i++) {
    uint32_t f, k;
    if (i < 20) { f = (b & c) | (~b & d); k = 0x5A827999u; }
    else if (i < 40) { f = b ^ c ^ d; k = 0x6ED9EBA1u; }
    else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDCu; }
    else { f = b ^ c ^ d; k = 0xCA62C1D6u; }
    uint32_t t = rol32(a, 5) + f + e + k + w[i];
    e = d; d = c; c = rol32(b, 30); b = a; a = t;
  }
  h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
}

static void sha1(const uint8_t *msg, size_t len, uint8_t out[20]) {
  uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
  size_t i = 0;
  for (; i + 64 <= len; i += 64) sha1_block(h, msg + i);
  uint8_t tail[128];
  memset(tail, 0, sizeof tail);
  size_t r = len - i;
  memcpy(tail, msg + i, r);
  tail[r] = 0x80;
  size_t tl = (r + 1 + 8 <= 64) ? 64 : 128;
  uint64_t bits = (uint64_t)len * 8;
  for (int j = 0; j < 8; j++) tail[tl - 1 - j] = (uint8_t)(bits >> (8 * j));
  sha1_block(h, tail);
  if (tl == 128) sha1_block(h, tail + 64);
  for (int j = 0; j < 5; j++) {
    out[4 * j] = (uint8_t)(h[j] >> 24); out[4 * j + 1] = (uint8_t)(h[j] >> 16);
    out[4 * j + 2] = (uint8_t)(h[j] >> 8); out[4 * j + 3] = (uint8_t)h[j];
  }
}

static void base64(const uint8_t *in, size_t n, char *out) {
  static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16;
    if (i + 1 < n) v |= (uint32_t)in[i + 1] << 8;
    if (i + 2 < n) v |= in[i + 2];
    out[o++] = tbl[(v >> 18) & 63];
    out[o++] = tbl[(v >> 12) & 63];
    out[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < n ? tbl[v & 63] : '=';
  }
  out[o] = 0;
}

static void accept_for(const char *key, char out[32]) {
  char buf[128];
  uint8_t dig[20];
  int n = snprintf(buf, sizeof buf, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
  sha1((const uint8_t *)buf, (size_t)n, dig);
  base64(dig, 20, out);
}

/* ---------- epoll and output buffers ---------- */

static void set_events(conn *c, uint32_t ev) {
  if (c->events == ev) return;
  struct epoll_event e = {.events = ev, .data.ptr = c};
  if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e) < 0) die(EXIT_SETUP, "epoll_ctl: %s", strerror(errno));
  c->events = ev;
}

static uint8_t *out_reserve(conn *c, size_t need) {
  if (c->out_off == c->out_len) c->out_off = c->out_len = 0;
  if (c->out_cap - c->out_len < need) {
    size_t pending = c->out_len - c->out_off;
    if (c->out_off > 0 && c->out_off >= pending && c->out_cap - pending >= need) {
      memmove(c->out, c->out + c->out_off, pending);
    } else {
      size_t cap = c->out_cap ? c->out_cap : 256;
      while (cap - pending < need) cap *= 2;
      uint8_t *n = malloc(cap);
      if (!n) die(EXIT_SETUP, "out of memory (%zu bytes)", cap);
      if (pending) memcpy(n, c->out + c->out_off, pending);
      free(c->out);
      c->out = n;
      c->out_cap = cap;
    }
    c->out_off = 0;
    c->out_len = pending;
  }
  return c->out + c->out_len;
}

static void flush(conn *c) {
  while (c->out_off < c->out_len) {
    ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
    if (n > 0) { c->out_off += (size_t)n; continue; }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      set_events(c, EPOLLIN | EPOLLOUT);
      return;
    }
    if (closing) return;
    die(EXIT_WRONG, "connection %d: write failed: %s (did the server close it?)", c->idx,
        n < 0 ? strerror(errno) : "0 bytes");
  }
  c->out_off = c->out_len = 0;
  if (c->state >= ST_HANDSHAKE) set_events(c, EPOLLIN);
}

/* ---------- permessage-deflate ---------- */

static void pmd_streams(conn *c) {
  if (c->zd) return;
  c->zd = calloc(1, sizeof *c->zd);
  c->zi = calloc(1, sizeof *c->zi);
  if (!c->zd || !c->zi) die(EXIT_SETUP, "out of memory");
  /* zlib refuses a raw deflate window of 8 bits; with 9 it still keeps every match within
   * 250 bytes (MAX_DIST = window - 262), so the output inflates with a 256-byte window. */
  int cb = c->c_bits == 8 ? 9 : c->c_bits;
  if (deflateInit2(c->zd, opt.zlevel, Z_DEFLATED, -cb, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    die(EXIT_SETUP, "deflateInit2(level %d, window %d bits) failed", opt.zlevel, cb);
  if (inflateInit2(c->zi, -c->s_bits) != Z_OK) die(EXIT_SETUP, "inflateInit2(window %d bits) failed", c->s_bits);
}

/* RFC 7692 section 7.2.1: compresses `n` bytes into zbuf; returns the length without 00 00 FF FF. */
static size_t pmd_compress(conn *c, const uint8_t *in, size_t n) {
  pmd_streams(c);
  z_stream *z = c->zd;
  z->next_in = (Bytef *)in;
  z->avail_in = (uInt)n;
  size_t have = 0;
  for (;;) {
    if (zcap - have < 64) {
      zcap *= 2;
      zbuf = realloc(zbuf, zcap);
      if (!zbuf) die(EXIT_SETUP, "out of memory");
    }
    z->next_out = zbuf + have;
    z->avail_out = (uInt)(zcap - have);
    int r = deflate(z, Z_SYNC_FLUSH);
    if (r != Z_OK && r != Z_BUF_ERROR) die(EXIT_SETUP, "deflate failed (%d)", r);
    have = zcap - z->avail_out;
    if (z->avail_in == 0 && z->avail_out > 0) break; /* the flush is complete */
  }
  static const uint8_t trailer[4] = {0x00, 0x00, 0xff, 0xff};
  if (have < 4 || memcmp(zbuf + have - 4, trailer, 4) != 0) die(EXIT_SETUP, "deflate output does not end with 00 00 ff ff");
  have -= 4;
  if (have == 0) zbuf[have++] = 0x00; /* section 7.2.3.6: an empty deflate block */
  if (c->c_nct) deflateReset(z);
  return have;
}

static void payload_bytes(conn *c, const uint8_t *p, size_t n);

/* RFC 7692 section 7.2.2: inflates compressed message bytes and passes on what comes out. */
static void pmd_inflate(conn *c, const uint8_t *p, size_t n) {
  pmd_streams(c);
  z_stream *z = c->zi;
  z->next_in = (Bytef *)p;
  z->avail_in = (uInt)n;
  for (;;) {
    z->next_out = ibuf;
    z->avail_out = IBUF_SIZE;
    int r = inflate(z, Z_SYNC_FLUSH);
    size_t got = IBUF_SIZE - z->avail_out;
    if (got) payload_bytes(c, ibuf, got);
    if (r == Z_STREAM_END) { /* a final block (BFINAL): whatever follows starts afresh */
      inflateReset(z);
      if (z->avail_in == 0) break;
      continue;
    }
    if (r == Z_BUF_ERROR && got == 0) break; /* nothing more to do */
    if (r != Z_OK && r != Z_BUF_ERROR)
      die(EXIT_WRONG, "connection %d, message seq %" PRIu64 ": the server's compressed data does not inflate: %s", c->idx,
          c->recv_seq, z->msg ? z->msg : "zlib error");
    if (z->avail_in == 0 && z->avail_out > 0) break;
  }
}

/* dst[i] = src[i] ^ k[i & 3] for i in [from, to), 8 bytes at a time (from must be a multiple of 4). */
static void xor_copy(uint8_t *dst, const uint8_t *src, size_t from, size_t to, const uint8_t k[4]) {
  uint32_t k32;
  memcpy(&k32, k, 4);
  uint64_t k64 = (uint64_t)k32 | ((uint64_t)k32 << 32);
  size_t i = from;
  for (; i + 8 <= to; i += 8) {
    uint64_t t;
    memcpy(&t, src + i, 8);
    t ^= k64;
    memcpy(dst + i, &t, 8);
  }
  for (; i < to; i++) dst[i] = src[i] ^ k[i & 3];
}

/* Queues one masked frame (b0: FIN, RSV1, opcode) with payload pl; returns its bytes on the wire. */
static size_t queue_frame(conn *c, uint8_t b0, const uint8_t *pl, size_t L) {
  size_t hl;
  uint8_t hdr[14];
  hdr[0] = b0;
  if (L < 126) { hdr[1] = (uint8_t)(0x80 | L); hl = 2; }
  else if (L < 65536) { hdr[1] = 0x80 | 126; hdr[2] = (uint8_t)(L >> 8); hdr[3] = (uint8_t)L; hl = 4; }
  else {
    hdr[1] = 0x80 | 127;
    for (int i = 0; i < 8; i++) hdr[2 + i] = (uint8_t)((uint64_t)L >> (56 - 8 * i));
    hl = 10;
  }
  uint32_t mask = (uint32_t)(rng64() >> 32);
  memcpy(hdr + hl, &mask, 4);
  hl += 4;
  uint8_t *w = out_reserve(c, hl + L);
  memcpy(w, hdr, hl);
  w += hl;
  uint8_t m[4];
  memcpy(m, &mask, 4);
  xor_copy(w, pl, 0, L, m);
  c->out_len += hl + L;
  return hl + L;
}

/* Queues one message built in sbuf (JSON, a Socket.IO event, or compressed). */
static void queue_built(conn *c, uint64_t seq, uint64_t aux) {
  size_t L = opt.size;
  uint8_t b0 = 0x81; /* FIN, text */
  if (opt.sio) L = sio_event_build(sbuf, sio_event, opt.size, seq, aux);
  else if (opt.json) json_build(seq, aux, sbuf);
  else { pattern_build(seq, aux, sbuf); b0 = 0x82; /* FIN, binary */ }
  const uint8_t *pl = sbuf;
  if (c->pmd) {
    L = pmd_compress(c, sbuf, L);
    pl = zbuf;
    b0 |= 0x40; /* RSV1: compressed */
  }
  n_wire_tx += queue_frame(c, b0, pl, L);
  n_payload_tx += opt.size;
}

/* Queues one message (header + payload) on c. aux: bytes 8..15 (latency: scheduled time). */
static void queue_msg(conn *c, uint64_t aux) {
  size_t S = opt.size, hl = 0;
  uint64_t seq = c->send_seq++;
  if (opt.proto == P_WS && (opt.json || opt.sio || c->pmd)) {
    queue_built(c, seq, aux);
    return;
  }
  uint8_t hdr[14];
  uint32_t mask = 0;
  if (opt.proto == P_WS) {
    hdr[0] = 0x82; /* FIN, binary */
    if (S < 126) { hdr[1] = (uint8_t)(0x80 | S); hl = 2; }
    else if (S < 65536) { hdr[1] = 0x80 | 126; hdr[2] = (uint8_t)(S >> 8); hdr[3] = (uint8_t)S; hl = 4; }
    else {
      hdr[1] = 0x80 | 127;
      for (int i = 0; i < 8; i++) hdr[2 + i] = (uint8_t)((uint64_t)S >> (56 - 8 * i));
      hl = 10;
    }
    mask = (uint32_t)(rng64() >> 32); /* a fresh masking key per frame */
    memcpy(hdr + hl, &mask, 4);
    hl += 4;
  } else {
    hdr[0] = (uint8_t)(S >> 24); hdr[1] = (uint8_t)(S >> 16); hdr[2] = (uint8_t)(S >> 8); hdr[3] = (uint8_t)S;
    hl = 4;
  }
  uint8_t *w = out_reserve(c, hl + S);
  memcpy(w, hdr, hl);
  w += hl;
  uint8_t head[16], m[4];
  put_le64(head, seq);
  put_le64(head + 8, aux);
  memcpy(m, &mask, 4);
  for (size_t i = 0; i < 16; i++) w[i] = head[i] ^ m[i & 3];
  uint8_t kb = kbyte(seq);
  uint8_t k[4] = {(uint8_t)(m[0] ^ kb), (uint8_t)(m[1] ^ kb), (uint8_t)(m[2] ^ kb), (uint8_t)(m[3] ^ kb)};
  xor_copy(w, pattern, 16, S, k);
  c->out_len += hl + S;
  n_wire_tx += hl + S;
  n_payload_tx += S;
}

/* ---------- connections ---------- */

static void on_open(conn *c);
static void on_message(conn *c);

static void start_connect(conn *c) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die(EXIT_SETUP, "socket(): %s (%d connections open)", strerror(errno), opened);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS)
    die(EXIT_SETUP, "connect to %s:%d: %s (%d connections open)", opt.host, opt.port, strerror(errno), opened);
  c->fd = fd;
  c->state = ST_CONNECTING;
  c->events = EPOLLOUT;
  c->ps = PS_HDR;
  c->hdr_have = 0;
  c->hdr_need = opt.proto == P_WS ? 2 : 4;
  struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0) die(EXIT_SETUP, "epoll_ctl add: %s", strerror(errno));
  inprogress++;
}

static void on_connected(conn *c) {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err) die(EXIT_SETUP, "connect to %s:%d: %s (%d connections open)", opt.host, opt.port, strerror(err), opened);
  c->state = ST_HANDSHAKE;
  set_events(c, EPOLLIN);
  if (opt.proto == P_RAW) return; /* the server greets us with an empty message */
  uint8_t raw[16];
  char key[32];
  for (int i = 0; i < 16; i += 8) { uint64_t r = rng64(); memcpy(raw + i, &r, 8); }
  base64(raw, 16, key);
  accept_for(key, c->accept);
  char req[512];
  int n = snprintf(req, sizeof req,
                   "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                   opt.path, opt.host, opt.port, key,
                   opt.deflate ? "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" : "");
  memcpy(out_reserve(c, (size_t)n), req, (size_t)n);
  c->out_len += (size_t)n;
  c->hs = malloc(HS_MAX + 1);
  if (opt.sio && !c->msgbuf) c->msgbuf = malloc(sio_msg_max);
  if (!c->hs || (opt.sio && !c->msgbuf)) die(EXIT_SETUP, "out of memory");
  c->hs_len = 0;
  flush(c);
}

static void feed_frames(conn *c, const uint8_t *p, size_t n);

static int is_tchar(char ch) {
  return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
         (ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* A window size (RFC 7692 section 7.1.2): 8..15, digits only, no leading zero; -1 if not. */
static int window_bits(const char *v, size_t n) {
  if (n == 1 && v[0] >= '8' && v[0] <= '9') return v[0] - '0';
  if (n == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5') return 10 + v[1] - '0';
  return -1;
}

/*
 * The value of the server's Sec-WebSocket-Extensions (RFC 7692 sections 5 and 7.1): exactly
 * one permessage-deflate element, each parameter at most once, window sizes 8..15 given as a
 * token or a quoted string. Anything else fails the run: the server answered wrongly.
 */
static void parse_extensions(conn *c, const char *v, size_t n) {
  size_t i = 0;
#define OWS() while (i < n && (v[i] == ' ' || v[i] == '\t')) i++
#define BAD(...) die(EXIT_WRONG, "connection %d: Sec-WebSocket-Extensions '%.*s': " __VA_ARGS__)
  OWS();
  size_t t0 = i;
  while (i < n && is_tchar(v[i])) i++;
  if (i == t0) BAD("no extension name", c->idx, (int)n, v);
  if (!opt.deflate) BAD("the server accepted an extension that was not offered", c->idx, (int)n, v);
  if (i - t0 != 18 || strncasecmp(v + t0, "permessage-deflate", 18) != 0)
    BAD("the server accepted an extension that was not offered", c->idx, (int)n, v);
  c->pmd = 1;
  c->c_bits = c->s_bits = 15;
  int seen = 0;
  for (;;) {
    OWS();
    if (i == n) break;
    if (v[i] == ',') BAD("more than one extension accepted, only permessage-deflate was offered", c->idx, (int)n, v);
    if (v[i] != ';') BAD("malformed at offset %zu", c->idx, (int)n, v, i);
    i++;
    OWS();
    size_t p0 = i;
    while (i < n && is_tchar(v[i])) i++;
    size_t pl = i - p0;
    if (pl == 0) BAD("empty parameter name at offset %zu", c->idx, (int)n, v, i);
    OWS();
    char val[32];
    size_t vl = 0;
    int has_val = 0;
    if (i < n && v[i] == '=') {
      i++;
      OWS();
      has_val = 1;
      if (i < n && v[i] == '"') {
        i++;
        while (i < n && v[i] != '"') {
          if (v[i] == '\\' && i + 1 < n) i++;
          if (vl < sizeof val - 1) val[vl++] = v[i];
          i++;
        }
        if (i == n) BAD("unterminated quoted string", c->idx, (int)n, v);
        i++;
      } else {
        while (i < n && is_tchar(v[i])) { if (vl < sizeof val - 1) val[vl++] = v[i]; i++; }
      }
      val[vl] = 0;
    }
    static const char *const names[] = {"server_no_context_takeover", "client_no_context_takeover",
                                        "server_max_window_bits", "client_max_window_bits"};
    int k = -1;
    for (int j = 0; j < 4; j++) if (pl == strlen(names[j]) && strncasecmp(v + p0, names[j], pl) == 0) k = j;
    if (k < 0) BAD("unknown parameter '%.*s'", c->idx, (int)n, v, (int)pl, v + p0);
    if (seen & (1 << k)) BAD("parameter '%s' given twice", c->idx, (int)n, v, names[k]);
    seen |= 1 << k;
    if (k < 2) {
      if (has_val) BAD("'%s' takes no value", c->idx, (int)n, v, names[k]);
      if (k == 0) c->s_nct = 1; else c->c_nct = 1;
    } else {
      int bits = has_val ? window_bits(val, vl) : -1;
      if (bits < 0) BAD("'%s' needs a value of 8..15 in a response", c->idx, (int)n, v, names[k]);
      if (k == 2) c->s_bits = bits; else c->c_bits = bits;
    }
  }
#undef OWS
#undef BAD
}

/* Reads the HTTP response; returns bytes of p consumed by it (the rest are frames). */
static size_t feed_handshake(conn *c, const uint8_t *p, size_t n) {
  size_t start = c->hs_len >= 3 ? c->hs_len - 3 : 0;
  size_t take = n < HS_MAX - c->hs_len ? n : HS_MAX - c->hs_len;
  memcpy(c->hs + c->hs_len, p, take);
  c->hs_len += take;
  c->hs[c->hs_len] = 0;
  char *end = strstr(c->hs + start, "\r\n\r\n");
  if (!end) {
    if (c->hs_len >= HS_MAX) die(EXIT_WRONG, "connection %d: handshake response longer than %d bytes", c->idx, HS_MAX);
    return n;
  }
  size_t used = (size_t)(end + 4 - c->hs) - (c->hs_len - take);
  end[2] = 0;
  if (strncmp(c->hs, "HTTP/1.1 101 ", 13) != 0) {
    char *eol = strstr(c->hs, "\r\n");
    if (eol) *eol = 0;
    die(EXIT_WRONG, "connection %d: expected 'HTTP/1.1 101 ...', got '%s'", c->idx, c->hs);
  }
  int ok_accept = 0, ok_upgrade = 0, n_ext = 0;
  for (char *line = strstr(c->hs, "\r\n"); line && line[2]; line = strstr(line + 2, "\r\n")) {
    char *h = line + 2;
    if (strncasecmp(h, "sec-websocket-accept:", 21) == 0) {
      char *v = h + 21;
      while (*v == ' ' || *v == '\t') v++;
      size_t vl = strcspn(v, " \t\r");
      if (vl != strlen(c->accept) || strncmp(v, c->accept, vl) != 0)
        die(EXIT_WRONG, "connection %d: Sec-WebSocket-Accept is '%.*s', expected '%s'", c->idx, (int)vl, v, c->accept);
      ok_accept = 1;
    } else if (strncasecmp(h, "upgrade:", 8) == 0) {
      char *v = h + 8;
      while (*v == ' ' || *v == '\t') v++;
      if (strncasecmp(v, "websocket", 9) == 0) ok_upgrade = 1;
    } else if (strncasecmp(h, "sec-websocket-extensions:", 25) == 0) {
      const char *v = h + 25;
      while (*v == ' ' || *v == '\t') v++;
      size_t vl = strcspn(v, "\r");
      while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
      if (n_ext++) die(EXIT_WRONG, "connection %d: more than one Sec-WebSocket-Extensions header in the 101 response", c->idx);
      parse_extensions(c, v, vl);
    }
  }
  if (opt.deflate && !c->pmd)
    die(EXIT_WRONG, "connection %d: the server did not accept permessage-deflate (no Sec-WebSocket-Extensions in its 101 "
        "response; was it started with --deflate?)", c->idx);
  if (!ok_accept) die(EXIT_WRONG, "connection %d: 101 response without Sec-WebSocket-Accept", c->idx);
  if (!ok_upgrade) die(EXIT_WRONG, "connection %d: 101 response without 'Upgrade: websocket'", c->idx);
  free(c->hs);
  c->hs = NULL;
  if (opt.sio) c->eio = 1; /* open once Socket.IO has connected: see sio_packet() */
  else on_open(c);
  return used;
}

static void mismatch(conn *c, const char *what, uint64_t off, unsigned expected, unsigned got) {
  if (off >= 16 && get_le64(c->head) != c->recv_seq) /* name the likelier cause */
    die(EXIT_WRONG, "ECHO MISMATCH on connection %d: message carries seq %" PRIu64 ", expected %" PRIu64
        " (lost, duplicated or reordered)", c->idx, get_le64(c->head), c->recv_seq);
  die(EXIT_WRONG,
      "ECHO MISMATCH on connection %d, message seq %" PRIu64 " (size %zu): %s at payload offset %" PRIu64
      ": expected 0x%02x, got 0x%02x",
      c->idx, c->recv_seq, opt.size, what, off, expected, got);
}

static void payload_bytes(conn *c, const uint8_t *p, size_t n) {
  if (c->ctrl) {
    memcpy(c->ctrl_buf + c->ctrl_len, p, n);
    c->ctrl_len += (int)n;
    return;
  }
  if (n == 0) return;
  uint64_t off = c->msg_off;
  if (opt.sio) { /* every message is kept whole for on_message() */
    if (off + n > sio_msg_max)
      die(EXIT_WRONG, "connection %d: a message longer than %zu bytes (the events are %zu)", c->idx, sio_msg_max,
          sio_event_len(sio_event, opt.size));
    memcpy(c->msgbuf + off, p, n);
    c->msg_off = off + n;
    return;
  }
  if (off + n > opt.size)
    die(EXIT_WRONG, "ECHO MISMATCH on connection %d, message seq %" PRIu64 ": longer than the %zu bytes sent",
        c->idx, c->recv_seq, opt.size);
  size_t hlen = opt.json ? HEAD_LEN : 16;
  if (off < hlen) {
    size_t k = hlen - off < n ? hlen - off : n;
    memcpy(c->head + off, p, k);
  }
  if (opt.json) {
    if (c->sampled) memcpy(c->msgbuf + off, p, n);
    uint64_t t0 = opt.size - TAIL_LEN; /* keep the last TAIL_LEN bytes */
    if (off + n > t0) {
      size_t from = off >= t0 ? 0 : (size_t)(t0 - off);
      memcpy(c->tail + (off + from - t0), p + from, n - from);
    }
  } else if (c->sampled) {
    uint8_t kb = kbyte(c->recv_seq);
    size_t i = off < 16 ? 16 - off : 0;
    uint64_t k64 = kb * 0x0101010101010101ULL;
    for (; i + 8 <= n; i += 8) { /* a word at a time; a differing word is re-checked bytewise below */
      uint64_t a, b;
      memcpy(&a, p + i, 8);
      memcpy(&b, pattern + off + i, 8);
      if ((a ^ b ^ k64) != 0) break;
    }
    for (; i < n; i++) {
      uint8_t want = pattern[off + i] ^ kb;
      if (p[i] != want) mismatch(c, "payload byte", off + i, want, p[i]);
    }
  }
  c->last = p[n - 1];
  c->msg_off = off + n;
}

static void frame_done(conn *c) {
  c->ps = PS_HDR;
  c->hdr_have = 0;
  c->hdr_need = opt.proto == P_WS ? 2 : 4;
  if (c->ctrl) {
    c->ctrl = 0;
    if (c->ctrl_op == 0x9) { queue_frame(c, 0x8A, c->ctrl_buf, (size_t)c->ctrl_len); return; }
    if (c->ctrl_op == 0xA) return;
    /* close */
    if (closing) return;
    unsigned code = c->ctrl_len >= 2 ? (unsigned)c->ctrl_buf[0] << 8 | c->ctrl_buf[1] : 0;
    die(EXIT_WRONG, "connection %d: the server sent a close frame (code %u, reason '%.*s')", c->idx, code,
        c->ctrl_len > 2 ? c->ctrl_len - 2 : 0, (const char *)c->ctrl_buf + 2);
  }
  if (c->fin) {
    if (c->compressed) { /* section 7.2.2: append 00 00 FF FF, then inflate */
      static const uint8_t trailer[4] = {0x00, 0x00, 0xff, 0xff};
      pmd_inflate(c, trailer, 4);
      if (c->s_nct) inflateReset(c->zi);
    }
    on_message(c);
  }
}

/* Returns 1 when the header is complete (parser moved on), 0 when it needs more bytes. */
static int header_done(conn *c) {
  uint64_t len;
  if (opt.proto == P_RAW) {
    len = (uint64_t)c->hdr[0] << 24 | (uint64_t)c->hdr[1] << 16 | (uint64_t)c->hdr[2] << 8 | c->hdr[3];
    c->fin = 1;
    c->ctrl = 0;
  } else {
    uint8_t b0 = c->hdr[0], b1 = c->hdr[1];
    if (c->hdr_have == 2) {
      if (b1 & 0x80) die(EXIT_WRONG, "connection %d: the server sent a masked frame", c->idx);
      int l7 = b1 & 0x7f;
      if (l7 >= 126) { c->hdr_need = l7 == 126 ? 4 : 10; return 0; }
    }
    int l7 = b1 & 0x7f;
    if (l7 < 126) len = (uint64_t)l7;
    else if (l7 == 126) len = (uint64_t)c->hdr[2] << 8 | c->hdr[3];
    else { len = 0; for (int i = 0; i < 8; i++) len = len << 8 | c->hdr[2 + i]; }
    int op = b0 & 0x0f;
    int rsv = b0 & 0x70;
    if (rsv && !c->pmd) die(EXIT_WRONG, "connection %d: frame with RSV bits 0x%x (no extension was negotiated)", c->idx, rsv);
    if (rsv && (rsv != 0x40 || (op != 1 && op != 2)))
      die(EXIT_WRONG, "connection %d: frame with RSV bits 0x%x and opcode %d (permessage-deflate allows RSV1 on the first "
          "frame of a data message only)", c->idx, rsv, op);
    c->fin = b0 >> 7;
    if (op >= 8) {
      if (!c->fin || len > 125 || (op != 8 && op != 9 && op != 10))
        die(EXIT_WRONG, "connection %d: bad control frame (opcode %d, fin %d, length %" PRIu64 ")", c->idx, op, c->fin, len);
      c->ctrl = 1;
      c->ctrl_op = op;
      c->ctrl_len = 0;
    } else {
      c->ctrl = 0;
      if (op == 1 || op == 2) {
        if (c->in_msg) die(EXIT_WRONG, "connection %d: new data frame inside a fragmented message", c->idx);
        int text = opt.json || opt.sio;
        if (op != (text ? 1 : 2))
          die(EXIT_WRONG, "connection %d: echo of a %s message came back as %s", c->idx, text ? "text" : "binary",
              op == 1 ? "text" : "binary");
        c->in_msg = 1;
        c->msg_off = 0;
        c->compressed = rsv != 0;
        c->sampled = c->state == ST_OPEN && c->recv_seq % opt.verify_every == 0;
        if (c->sampled && opt.json && !c->msgbuf && !(c->msgbuf = malloc(opt.size))) die(EXIT_SETUP, "out of memory");
      } else if (op == 0) {
        if (!c->in_msg) die(EXIT_WRONG, "connection %d: continuation frame with no message to continue", c->idx);
      } else {
        die(EXIT_WRONG, "connection %d: reserved opcode %d", c->idx, op);
      }
    }
  }
  if (opt.proto == P_RAW) {
    c->msg_off = 0;
    c->sampled = c->state == ST_OPEN && c->recv_seq % opt.verify_every == 0;
  }
  c->frame_left = len;
  c->ps = PS_PAYLOAD;
  if (len == 0) frame_done(c);
  return 1;
}

static void feed_frames(conn *c, const uint8_t *p, size_t n) {
  while (n > 0 && c->state != ST_CLOSED) {
    if (c->ps == PS_HDR) {
      size_t need = (size_t)(c->hdr_need - c->hdr_have);
      size_t take = need < n ? need : n;
      memcpy(c->hdr + c->hdr_have, p, take);
      c->hdr_have += (int)take;
      p += take;
      n -= take;
      if (c->hdr_have == c->hdr_need) header_done(c);
    } else {
      size_t take = c->frame_left < n ? (size_t)c->frame_left : n;
      if (c->compressed && !c->ctrl) pmd_inflate(c, p, take);
      else payload_bytes(c, p, take);
      p += take;
      n -= take;
      c->frame_left -= take;
      if (c->frame_left == 0) frame_done(c);
    }
  }
}

static void on_readable(conn *c) {
  /* Inside a large message that is not checked byte for byte, past its first 16 bytes: let
   * the kernel drop the bytes up to the frame's last one instead of copying them (TCP honours
   * MSG_TRUNC so). The length is still counted and the last byte still read and checked. The
   * length is capped at RBUF_SIZE, so a kernel that copied anyway would stay inside rbuf. */
  if (c->state == ST_OPEN && c->ps == PS_PAYLOAD && !c->ctrl && !c->sampled && !c->compressed && !opt.json && !opt.sio && c->msg_off >= 16 &&
      c->frame_left > SKIP_MIN && c->msg_off + c->frame_left <= opt.size) {
    size_t skip = c->frame_left - 1 < RBUF_SIZE ? (size_t)c->frame_left - 1 : RBUF_SIZE;
    ssize_t n = recv(c->fd, rbuf, skip, MSG_TRUNC);
    if (n > 0) {
      c->frame_left -= (uint64_t)n;
      c->msg_off += (uint64_t)n;
      n_wire_rx += (uint64_t)n;
      return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    /* EOF or an error: the ordinary path below reports it */
  }
  ssize_t n = recv(c->fd, rbuf, RBUF_SIZE, 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    if (closing) { c->state = ST_CLOSED; return; }
    die(EXIT_WRONG, "connection %d: read failed: %s", c->idx, strerror(errno));
  }
  if (n == 0) {
    if (closing) { c->state = ST_CLOSED; return; }
    die(EXIT_WRONG, "connection %d: the server closed the connection (state %d, %d connections open)", c->idx,
        c->state, opened);
  }
  t_now = mono_ns();
  const uint8_t *p = rbuf;
  size_t len = (size_t)n;
  if (c->hs) { /* the HTTP response (ws) */
    size_t used = feed_handshake(c, p, len);
    p += used;
    len -= used;
  }
  if (c->state == ST_OPEN) n_wire_rx += len;
  if (len) feed_frames(c, p, len);
  if (c->out_len > c->out_off) flush(c);
}

static void on_event(conn *c, uint32_t ev) {
  if (c->state == ST_CONNECTING) { on_connected(c); return; }
  if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c);
  if ((ev & EPOLLOUT) && c->state != ST_CLOSED && c->fd >= 0) flush(c);
}

/* ---------- modes ---------- */

static int phase_sending; /* echo/broadcast: keep the pipeline full */

/* wire accounting over a window */
typedef struct { uint64_t wtx, ptx, wrx, prx, rxc, rxm; } wire_t;
static wire_t ws0, ws1;
static void wire_snap(wire_t *w) {
  w->wtx = n_wire_tx; w->ptx = n_payload_tx; w->wrx = n_wire_rx; w->prx = n_payload_rx;
  w->rxc = n_rx_compressed; w->rxm = n_rx_msgs;
}

static void on_open(conn *c) {
  inprogress--;
  opened++;
  c->state = ST_OPEN;
  last_progress = t_now;
}

static void lat_push(uint64_t **arr, size_t *n, size_t *cap, uint64_t v) {
  if (*n == *cap) {
    *cap = *cap ? *cap * 2 : 65536;
    *arr = realloc(*arr, *cap * sizeof **arr);
    if (!*arr) die(EXIT_SETUP, "out of memory for samples");
  }
  (*arr)[(*n)++] = v;
}

/* JSON payloads: both sequence numbers, the aux word, the fixed text around them, and (sampled
 * messages) every byte against the message rebuilt from its sequence number. */
static void json_check(conn *c, uint64_t *seq_out, uint64_t *aux_out) {
  const uint8_t *h = c->head, *t = c->tail;
  uint64_t seq, aux, end;
  size_t S = opt.size, te = TAIL_LEN - JSON_END_LEN; /* where JSON_END_LIT starts in tail */
  if (memcmp(h, JSON_P0, JSON_SEQ_OFF) != 0 || !get_hex16(h + JSON_SEQ_OFF, &seq) ||
      memcmp(h + JSON_SEQ_OFF + 16, JSON_P1, 9) != 0 || !get_hex16(h + JSON_AUX_OFF, &aux) ||
      memcmp(h + JSON_AUX_OFF + 16, JSON_P2, 3) != 0)
    die(EXIT_WRONG, "ECHO MISMATCH on connection %d, message seq %" PRIu64 ": the text does not start with the "
        "[{\"seq\":...,\"aux\":...}, head that was sent: '%.53s'", c->idx, c->recv_seq, (const char *)h);
  if (seq != c->recv_seq)
    die(EXIT_WRONG, "ECHO MISMATCH on connection %d: message carries seq %" PRIu64 ", expected %" PRIu64
        " (lost, duplicated or reordered)", c->idx, seq, c->recv_seq);
  if (opt.mode != M_LATENCY && aux != (seq ^ AUX_XOR))
    die(EXIT_WRONG, "ECHO MISMATCH on connection %d, message seq %" PRIu64 ": the aux word is corrupted", c->idx, seq);
  if (memcmp(t + te, JSON_END_LIT, 9) != 0 || !get_hex16(t + te + 9, &end) || memcmp(t + te + 25, "\"}]", 3) != 0 ||
      end != seq)
    die(EXIT_WRONG, "ECHO MISMATCH on connection %d, message seq %" PRIu64 ": the text does not end with "
        "\"end\":\"<seq>\"}]: '%.28s'", c->idx, seq, (const char *)t + te);
  if (c->sampled) {
    json_build(seq, aux, expect);
    if (memcmp(c->msgbuf, expect, S) != 0) {
      size_t i = 0;
      while (c->msgbuf[i] == expect[i]) i++;
      die(EXIT_WRONG, "ECHO MISMATCH on connection %d, message seq %" PRIu64 " (size %zu): text byte at offset %zu: "
          "expected '%c' (0x%02x), got 0x%02x", c->idx, seq, S, i, expect[i], expect[i], c->msgbuf[i]);
    }
  }
  *seq_out = seq;
  *aux_out = aux;
}

/* The sequence number and aux word a binary or Socket.IO message carries. */
static void check_words(conn *c, uint64_t seq, uint64_t aux) {
  if (seq != c->recv_seq)
    die(EXIT_WRONG, "ECHO MISMATCH on connection %d: message carries seq %" PRIu64 ", expected %" PRIu64
        " (lost, duplicated or reordered)", c->idx, seq, c->recv_seq);
  if (opt.mode != M_LATENCY && aux != (seq ^ AUX_XOR))
    die(EXIT_WRONG, "ECHO MISMATCH on connection %d, message seq %" PRIu64 ": the aux word is corrupted", c->idx, seq);
}

/*
 * --proto sio: the Engine.IO and Socket.IO packets that are not events (loadgen-sio.c): the
 * open packet is answered with CONNECT (40), the CONNECT reply opens the connection, PINGs get
 * PONGs. Returns 1 for an event, which the caller checks; anything unexpected fails the run.
 */
static int sio_packet(conn *c) {
  char why[320];
  int kind = sio_classify(c->msgbuf, c->msg_off, why, sizeof why);
  if (kind < 0) die(EXIT_WRONG, "connection %d: %s", c->idx, why);
  switch (kind) {
    case SIO_EVENT:
      if (c->eio != 3) die(EXIT_WRONG, "connection %d: an event before the Socket.IO CONNECT was answered", c->idx);
      return 1;
    case SIO_OPEN:
      if (c->eio != 1) die(EXIT_WRONG, "connection %d: a second Engine.IO open packet", c->idx);
      c->eio = 2;
      queue_frame(c, 0x81, (const uint8_t *)"40", 2);
      break;
    case SIO_CONNECTED:
      if (c->eio != 2) die(EXIT_WRONG, "connection %d: a Socket.IO CONNECT reply that was not asked for", c->idx);
      c->eio = 3;
      on_open(c);
      break;
    case SIO_PING:
      queue_frame(c, 0x81, (const uint8_t *)"3", 1);
      break;
  }
  return 0;
}

static void on_message(conn *c) {
  c->in_msg = 0;
  uint64_t seq, aux;
  if (opt.sio) {
    if (!sio_packet(c)) return;
    char why[320];
    if (sio_event_check(c->msgbuf, c->msg_off, sio_event, opt.size, c->sampled, &seq, &aux, why, sizeof why) < 0)
      die(EXIT_WRONG, "ECHO MISMATCH on connection %d, message seq %" PRIu64 ": %s", c->idx, c->recv_seq, why);
    check_words(c, seq, aux);
  } else if (c->state == ST_HANDSHAKE) { /* raw greeting */
    if (c->msg_off != 0) die(EXIT_WRONG, "connection %d: raw greeting should be empty, got %" PRIu64 " bytes", c->idx, c->msg_off);
    on_open(c);
    return;
  } else if (c->msg_off != opt.size) {
    die(EXIT_WRONG, "ECHO MISMATCH on connection %d, message seq %" PRIu64 ": %" PRIu64 " bytes, expected %zu",
        c->idx, c->recv_seq, c->msg_off, opt.size);
  } else if (opt.json) {
    json_check(c, &seq, &aux);
  } else {
    seq = get_le64(c->head);
    aux = get_le64(c->head + 8);
    check_words(c, seq, aux);
    if (opt.size > 16) {
      uint8_t want = pattern[opt.size - 1] ^ kbyte(seq);
      if (c->last != want) mismatch(c, "last byte", opt.size - 1, want, c->last);
    }
  }
  n_rx_msgs++;
  n_payload_rx += opt.size;
  if (c->compressed) n_rx_compressed++;
  c->compressed = 0;
  n_checked++;
  if (c->sampled) n_full++;
  c->recv_seq++;
  last_progress = t_now;
  switch (opt.mode) {
    case M_ECHO:
      n_msgs++;
      n_bytes += opt.size;
      if (phase_sending) queue_msg(c, c->send_seq ^ AUX_XOR);
      break;
    case M_LATENCY:
      n_msgs++;
      n_bytes += opt.size;
      if (aux >= lat_win_start && aux < lat_win_end) {
        lat_push(&lat, &lat_n, &lat_cap, t_now - aux);
        lat_recv_in_win++;
      }
      break;
    case M_BROADCAST:
      if (!c->is_sender) { n_deliveries++; n_bytes += opt.size; }
      break;
    default:
      die(EXIT_WRONG, "connection %d: unexpected message from the server in %s mode", c->idx, MODE_NAMES[opt.mode]);
  }
}

static void poll_once(int timeout_ms) {
  static struct epoll_event evs[MAX_EVENTS];
  int n = epoll_wait(ep, evs, MAX_EVENTS, timeout_ms);
  if (n < 0) {
    if (errno == EINTR) return;
    die(EXIT_SETUP, "epoll_wait: %s", strerror(errno));
  }
  t_now = mono_ns();
  for (int i = 0; i < n; i++) {
    void *p = evs[i].data.ptr;
    if (p == &sentinel_timer) {
      uint64_t x;
      if (read(tfd, &x, sizeof x) < 0 && errno != EAGAIN) die(EXIT_SETUP, "timerfd read: %s", strerror(errno));
    } else if (p == &sentinel_stdin) {
      char b[256];
      ssize_t r = read(0, b, sizeof b);
      (void)r;
      closing = 1; /* any input or EOF on stdin ends an idle hold */
    } else {
      on_event((conn *)p, evs[i].events);
    }
  }
  t_now = mono_ns();
  if (t_now > hard_deadline)
    die(EXIT_TIMEOUT, "timed out after %.1f s (%d of %d connections open, %" PRIu64 " messages)",
        (double)(t_now - t_start) / 1e9, opened, nconns, n_checked);
}

static int ms_until(uint64_t t) {
  if (t <= t_now) return 0;
  uint64_t ms = (t - t_now + 999999) / 1000000;
  return ms > 100 ? 100 : (int)ms;
}

static void connect_all(void) {
  while (opened < nconns) {
    while (inprogress < opt.max_pending && next_connect < nconns) start_connect(&conns[next_connect++]);
    poll_once(100);
  }
}

static void close_all(void) {
  closing = 1;
  for (int i = 0; i < nconns; i++) {
    if (conns[i].fd >= 0) close(conns[i].fd);
    conns[i].fd = -1;
    conns[i].state = ST_CLOSED;
    free(conns[i].out);
    free(conns[i].hs);
    free(conns[i].msgbuf);
    conns[i].out = NULL;
    conns[i].hs = NULL;
    conns[i].msgbuf = NULL;
    if (conns[i].zd) {
      deflateEnd(conns[i].zd);
      inflateEnd(conns[i].zi);
      free(conns[i].zd);
      free(conns[i].zi);
      conns[i].zd = conns[i].zi = NULL;
    }
  }
}

static void check_stall(void) {
  if (t_now - last_progress > STALL_NS)
    die(EXIT_TIMEOUT, "stalled: no message received for %.0f s (%" PRIu64 " messages so far)", STALL_NS / 1e9, n_checked);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static double pct_us(uint64_t *v, size_t n, double q) {
  if (n == 0) return 0;
  size_t i = (size_t)(q * (double)n);
  if (i >= n) i = n - 1;
  return (double)v[i] / 1000.0;
}

/* JSON output helpers */
static char json[4096];
static size_t jlen;
static void jadd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void jadd(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(json + jlen, sizeof json - jlen, fmt, ap);
  va_end(ap);
  if (n > 0) jlen += (size_t)n;
  if (jlen >= sizeof json) jlen = sizeof json - 1;
}

static void usage(void) {
  fprintf(stderr,
          "usage: loadgen --mode echo|latency|connect|idle|broadcast [options]\n"
          "  --proto ws|raw|sio    WebSocket client (default), 4-byte length framing, or Socket.IO v5\n"
          "                        events over Engine.IO v4 (WebSocket transport; path %s)\n"
          "  --host H --port P     server (default 127.0.0.1)\n"
          "  --path /P             request path (ws)\n"
          "  --conns N             connections (broadcast: receivers; +1 sender)\n"
          "  --inflight K          echo: messages in flight per connection; broadcast: in total\n"
          "  --size S              payload bytes per message (>= 16; json: >= %d; sio: >= %d)\n"
          "  --payload binary|json binary messages (default) or JSON-like text messages (ws)\n"
          "  --deflate             offer permessage-deflate, compress and inflate every message (ws)\n"
          "  --deflate-level L     zlib level for what this client compresses (default 1)\n"
          "  --duration S --warmup S   measured window and warm-up before it (seconds)\n"
          "  --rate R              latency: total messages per second over all connections\n"
          "  --grace S             latency: wait this long for the last echoes\n"
          "  --max-pending N       connections being opened at once (default 256)\n"
          "  --verify-every N      check every byte of every N-th message (default 64)\n"
          "  --hold S              idle: hold S seconds (default: until stdin has input or EOF)\n"
          "  --timeout S           give up after S seconds (default: warm-up + duration + 60)\n",
          SIO_PATH, JSON_MIN_SIZE, SIO_MIN_SIZE);
  exit(EXIT_SETUP);
}

static double num_arg(const char *name, const char *v) {
  char *end;
  double d = strtod(v, &end);
  if (!*v || *end || d < 0) die(EXIT_SETUP, "%s needs a non-negative number, got '%s'", name, v);
  return d;
}

int main(int argc, char **argv) {
  int path_set = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) usage();
    if (!strcmp(a, "--deflate")) { opt.deflate = 1; continue; }
    if (i + 1 >= argc) die(EXIT_SETUP, "%s needs a value (try --help)", a);
    const char *v = argv[++i];
    if (!strcmp(a, "--mode")) {
      opt.mode = -1;
      for (int m = 0; m < 5; m++) if (!strcmp(v, MODE_NAMES[m])) opt.mode = m;
      if (opt.mode < 0) die(EXIT_SETUP, "unknown mode '%s'", v);
    } else if (!strcmp(a, "--proto")) {
      opt.sio = 0;
      if (!strcmp(v, "ws")) opt.proto = P_WS;
      else if (!strcmp(v, "raw")) opt.proto = P_RAW;
      else if (!strcmp(v, "sio")) { opt.proto = P_WS; opt.sio = 1; }
      else die(EXIT_SETUP, "unknown protocol '%s' (ws, raw or sio)", v);
    } else if (!strcmp(a, "--host")) opt.host = v;
    else if (!strcmp(a, "--path")) { opt.path = v; path_set = 1; }
    else if (!strcmp(a, "--port")) opt.port = (int)num_arg(a, v);
    else if (!strcmp(a, "--conns")) opt.conns = (int)num_arg(a, v);
    else if (!strcmp(a, "--inflight")) opt.inflight = (int)num_arg(a, v);
    else if (!strcmp(a, "--size")) opt.size = (size_t)num_arg(a, v);
    else if (!strcmp(a, "--duration")) opt.duration = num_arg(a, v);
    else if (!strcmp(a, "--warmup")) opt.warmup = num_arg(a, v);
    else if (!strcmp(a, "--rate")) opt.rate = num_arg(a, v);
    else if (!strcmp(a, "--grace")) opt.grace = num_arg(a, v);
    else if (!strcmp(a, "--hold")) opt.hold = num_arg(a, v);
    else if (!strcmp(a, "--timeout")) opt.timeout = num_arg(a, v);
    else if (!strcmp(a, "--max-pending")) opt.max_pending = (int)num_arg(a, v);
    else if (!strcmp(a, "--verify-every")) opt.verify_every = (uint64_t)num_arg(a, v);
    else if (!strcmp(a, "--deflate-level")) opt.zlevel = (int)num_arg(a, v);
    else if (!strcmp(a, "--payload")) {
      if (!strcmp(v, "json")) opt.json = 1;
      else if (!strcmp(v, "binary")) opt.json = 0;
      else die(EXIT_SETUP, "unknown payload '%s' (binary or json)", v);
    }
    else die(EXIT_SETUP, "unknown option '%s' (try --help)", a);
  }
  if (opt.mode < 0) usage();
  if (opt.port <= 0 || opt.port > 65535) die(EXIT_SETUP, "--port is required (1..65535)");
  if (opt.conns < 1 || opt.inflight < 1 || opt.max_pending < 1 || opt.verify_every < 1)
    die(EXIT_SETUP, "--conns, --inflight, --max-pending and --verify-every must be >= 1");
  if (opt.size < 16 || opt.size > (1u << 30)) die(EXIT_SETUP, "--size must be 16 .. 2^30 bytes");
  if (opt.mode == M_LATENCY && opt.rate <= 0) die(EXIT_SETUP, "--rate must be > 0");
  if (opt.path[0] != '/') die(EXIT_SETUP, "--path must start with '/'");
  if ((opt.json || opt.deflate) && opt.proto != P_WS) die(EXIT_SETUP, "--payload json and --deflate need --proto ws");
  if (opt.json && opt.size < JSON_MIN_SIZE) die(EXIT_SETUP, "--payload json needs --size >= %d", JSON_MIN_SIZE);
  if (opt.zlevel < 0 || opt.zlevel > 9) die(EXIT_SETUP, "--deflate-level must be 0..9");
  if (opt.sio) {
    if (opt.json || opt.deflate) die(EXIT_SETUP, "--proto sio takes neither --payload json nor --deflate");
    if (opt.size < SIO_MIN_SIZE) die(EXIT_SETUP, "--proto sio needs --size >= %d", SIO_MIN_SIZE);
    if (!path_set) opt.path = SIO_PATH;
    if (opt.mode == M_BROADCAST) sio_event = "broadcast";
    sio_msg_max = sio_event_len(sio_event, opt.size) > SIO_CTRL_MAX ? sio_event_len(sio_event, opt.size) : SIO_CTRL_MAX;
  }

  /* self-test of the Sec-WebSocket-Accept computation (RFC 6455 section 1.3 example) */
  char acc[32];
  accept_for("dGhlIHNhbXBsZSBub25jZQ==", acc);
  if (strcmp(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != 0) die(EXIT_SETUP, "SHA-1 self-test failed");

  signal(SIGPIPE, SIG_IGN);
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* precise timer wake-ups for the latency schedule */
  if (getrandom(&rng_state, sizeof rng_state, 0) != sizeof rng_state) rng_state = (uint64_t)mono_ns();
  rng_state |= 1;

  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)opt.port);
  if (inet_pton(AF_INET, opt.host, &addr.sin_addr) != 1) die(EXIT_SETUP, "--host must be an IPv4 address, got '%s'", opt.host);

  nconns = opt.mode == M_BROADCAST ? opt.conns + 1 : opt.conns;
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rlim_t need = (rlim_t)nconns + 64;
  if (rl.rlim_cur < need) {
    if (rl.rlim_max < need) die(EXIT_SETUP, "need %lu open files, the hard limit is %lu (raise it: ulimit -Hn)", (unsigned long)need, (unsigned long)rl.rlim_max);
    rl.rlim_cur = need;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) die(EXIT_SETUP, "setrlimit(NOFILE, %lu): %s", (unsigned long)need, strerror(errno));
  }

  conns = calloc((size_t)nconns, sizeof *conns);
  rbuf = malloc(RBUF_SIZE);
  pattern = malloc(opt.size);
  if (!conns || !rbuf || !pattern) die(EXIT_SETUP, "out of memory");
  for (size_t i = 0; i < opt.size; i++) pattern[i] = (uint8_t)(i * 31u + (i >> 8) * 7u + (i >> 16) * 3u + 1u);
  if (opt.json || opt.deflate || opt.sio) {
    sbuf = malloc(opt.sio ? sio_msg_max : opt.size);
    expect = malloc(opt.size);
    ibuf = malloc(IBUF_SIZE);
    zcap = compressBound((uLong)opt.size) + 64;
    zbuf = malloc(zcap);
    if (!sbuf || !expect || !ibuf || !zbuf) die(EXIT_SETUP, "out of memory");
    if (opt.json) json_init();
  }
  for (int i = 0; i < nconns; i++) { conns[i].fd = -1; conns[i].idx = i; }
  if (opt.mode == M_BROADCAST) conns[opt.conns].is_sender = 1;

  ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die(EXIT_SETUP, "epoll_create1: %s", strerror(errno));

  double budget = opt.timeout > 0 ? opt.timeout : opt.warmup + opt.duration + opt.grace + 60;
  if (opt.mode == M_IDLE && opt.timeout <= 0) budget = 60 + (opt.hold > 0 ? opt.hold : 300);
  t_start = t_now = mono_ns();
  last_progress = t_now;
  hard_deadline = t_start + (uint64_t)(budget * 1e9);
  uint64_t cpu_start = cpu_ns();

  /* every mode starts by opening all its connections */
  connect_all();
  uint64_t t_open = t_now, cpu_open = cpu_ns();
  double connect_s = (double)(t_open - t_start) / 1e9;

  jadd("{\"mode\":\"%s\",\"proto\":\"%s\",\"port\":%d,\"conns\":%d", MODE_NAMES[opt.mode],
       opt.sio ? "sio" : opt.proto == P_WS ? "ws" : "raw", opt.port, opt.conns);

  uint64_t w_t0 = t_open, w_t1 = t_open, w_c0 = cpu_start, w_c1 = cpu_open;

  if (opt.mode == M_CONNECT) {
    jadd(",\"handshakes\":%d,\"connect_s\":%.6f,\"handshakes_per_s\":%.1f", opened, connect_s,
         connect_s > 0 ? opened / connect_s : 0);
    w_t0 = t_start;
  } else if (opt.mode == M_IDLE) {
    printf("READY %d\n", opened);
    fflush(stdout);
    if (opt.hold > 0) {
      uint64_t until = t_now + (uint64_t)(opt.hold * 1e9);
      while (t_now < until) poll_once(ms_until(until));
    } else {
      struct epoll_event e = {.events = EPOLLIN, .data.ptr = &sentinel_stdin};
      if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &e) < 0) die(EXIT_SETUP, "cannot watch stdin (use --hold S): %s", strerror(errno));
      while (!closing) poll_once(100);
      closing = 0;
    }
    jadd(",\"open\":%d,\"connect_s\":%.6f,\"connects_per_s\":%.1f", opened, connect_s, connect_s > 0 ? opened / connect_s : 0);
    w_t0 = t_start;
    w_t1 = t_open;
  } else if (opt.mode == M_ECHO || opt.mode == M_BROADCAST) {
    phase_sending = 1;
    conn *sender = opt.mode == M_BROADCAST ? &conns[opt.conns] : NULL;
    uint64_t R = (uint64_t)opt.conns, W = (uint64_t)opt.inflight;
    if (opt.mode == M_ECHO) {
      for (int i = 0; i < nconns; i++) {
        for (int k = 0; k < opt.inflight; k++) queue_msg(&conns[i], conns[i].send_seq ^ AUX_XOR);
        flush(&conns[i]);
      }
    }
    uint64_t t_warm = t_now + (uint64_t)(opt.warmup * 1e9);
    uint64_t t_end = t_warm + (uint64_t)(opt.duration * 1e9);
    uint64_t m0 = 0, b0 = 0, d0 = 0, s0 = 0;
    int measuring = 0;
    last_progress = t_now;
    for (;;) {
      if (sender) { /* keep W messages' worth of deliveries outstanding */
        int queued = 0;
        while ((sender->send_seq + 1) * R <= n_deliveries + W * R) {
          queue_msg(sender, sender->send_seq ^ AUX_XOR);
          queued = 1;
        }
        if (queued) flush(sender);
      }
      poll_once(ms_until(measuring ? t_end : t_warm));
      check_stall();
      if (!measuring && t_now >= t_warm) {
        measuring = 1;
        w_t0 = t_now; w_c0 = cpu_ns();
        m0 = n_msgs; b0 = n_bytes; d0 = n_deliveries; s0 = sender ? sender->send_seq : 0;
        wire_snap(&ws0);
      }
      if (measuring && t_now >= t_end) {
        w_t1 = t_now; w_c1 = cpu_ns();
        wire_snap(&ws1);
        break;
      }
    }
    double win = (double)(w_t1 - w_t0) / 1e9;
    jadd(",\"size\":%zu,\"inflight\":%d,\"window_s\":%.6f", opt.size, opt.inflight, win);
    if (opt.mode == M_ECHO) {
      jadd(",\"msgs\":%" PRIu64 ",\"msgs_per_s\":%.1f,\"mb_per_s\":%.3f", n_msgs - m0, (n_msgs - m0) / win,
           (double)(n_bytes - b0) / win / 1e6);
    } else {
      jadd(",\"receivers\":%d,\"deliveries\":%" PRIu64 ",\"deliveries_per_s\":%.1f,\"sent_per_s\":%.1f,\"mb_per_s\":%.3f",
           opt.conns, n_deliveries - d0, (n_deliveries - d0) / win, (sender->send_seq - s0) / win,
           (double)(n_bytes - b0) / win / 1e6);
    }
  } else { /* M_LATENCY: open loop, latency from the scheduled send time */
    wire_snap(&ws0);
    tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (tfd < 0) die(EXIT_SETUP, "timerfd_create: %s", strerror(errno));
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = &sentinel_timer};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &e) < 0) die(EXIT_SETUP, "epoll_ctl timer: %s", strerror(errno));
    uint64_t t0 = t_now + 10000000ULL;
    lat_win_start = t0 + (uint64_t)(opt.warmup * 1e9);
    lat_win_end = lat_win_start + (uint64_t)(opt.duration * 1e9);
    double period = 1e9 / opt.rate;
    uint64_t k = 0, next = t0, armed = 0, sent_win = 0;
    conn **dirty = calloc((size_t)nconns, sizeof *dirty);
    int ndirty = 0;
    last_progress = t_now;
    while (next < lat_win_end) {
      while (next <= t_now && next < lat_win_end) {
        conn *c = &conns[k % (uint64_t)nconns];
        queue_msg(c, next);
        if (next >= lat_win_start) { sent_win++; lat_push(&lag, &lag_n, &lag_cap, t_now - next); }
        if (!c->dirty) { c->dirty = 1; dirty[ndirty++] = c; }
        k++;
        next = t0 + (uint64_t)((double)k * period);
      }
      for (int i = 0; i < ndirty; i++) { dirty[i]->dirty = 0; flush(dirty[i]); }
      ndirty = 0;
      if (next < lat_win_end && next != armed) {
        struct itimerspec its = {.it_value = {.tv_sec = (time_t)(next / 1000000000ULL), .tv_nsec = (long)(next % 1000000000ULL)}};
        if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0) die(EXIT_SETUP, "timerfd_settime: %s", strerror(errno));
        armed = next;
      }
      if (next > t_now) poll_once(100);
      if (k > 0 && t_now - last_progress > STALL_NS && n_checked < k)
        die(EXIT_TIMEOUT, "stalled: no echo for %.0f s (%" PRIu64 " of %" PRIu64 " sent answered)", STALL_NS / 1e9, n_checked, k);
    }
    lat_sent_in_win = sent_win;
    uint64_t grace_end = t_now + (uint64_t)(opt.grace * 1e9);
    while (lat_recv_in_win < lat_sent_in_win && t_now < grace_end) poll_once(ms_until(grace_end));
    uint64_t unanswered = lat_sent_in_win - lat_recv_in_win;
    /* unanswered messages count as the (lower-bound) latency of having waited out the grace time */
    for (uint64_t i = 0; i < unanswered; i++) lat_push(&lat, &lat_n, &lat_cap, t_now - lat_win_end);
    w_t0 = t_open; w_t1 = t_now; /* generator CPU over warm-up, window and grace */
    w_c0 = cpu_open; w_c1 = cpu_ns();
    wire_snap(&ws1);
    qsort(lat, lat_n, sizeof *lat, cmp_u64);
    qsort(lag, lag_n, sizeof *lag, cmp_u64);
    double sum = 0;
    for (size_t i = 0; i < lat_n; i++) sum += (double)lat[i];
    double win = (double)(lat_win_end - lat_win_start) / 1e9;
    jadd(",\"size\":%zu,\"rate\":%.1f,\"sent_per_s\":%.1f,\"samples\":%zu,\"unanswered\":%" PRIu64
         ",\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f"
         ",\"send_lag_p99_us\":%.1f,\"send_lag_max_us\":%.1f",
         opt.size, opt.rate, sent_win / win, lat_n, unanswered, pct_us(lat, lat_n, 0.50), pct_us(lat, lat_n, 0.90),
         pct_us(lat, lat_n, 0.99), pct_us(lat, lat_n, 0.999), lat_n ? lat[lat_n - 1] / 1000.0 : 0,
         lat_n ? sum / (double)lat_n / 1000.0 : 0, pct_us(lag, lag_n, 0.99), lag_n ? lag[lag_n - 1] / 1000.0 : 0);
    free(dirty);
  }

  double wwin = (double)(w_t1 - w_t0) / 1e9, wcpu = (double)(w_c1 - w_c0) / 1e9;
  if (opt.proto == P_WS) {
    const conn *c0 = &conns[0];
    jadd(",\"payload\":\"%s\",\"deflate\":%d", opt.sio ? "sio-string" : opt.json ? "json" : "binary", c0->pmd);
    if (c0->pmd)
      jadd(",\"deflate_level\":%d,\"server_no_context_takeover\":%d,\"client_no_context_takeover\":%d"
           ",\"server_max_window_bits\":%d,\"client_max_window_bits\":%d",
           opt.zlevel, c0->s_nct, c0->c_nct, c0->s_bits, c0->c_bits);
  }
  if (opt.mode == M_ECHO || opt.mode == M_BROADCAST || opt.mode == M_LATENCY) {
    /* bytes on the wire (frame headers included, control frames and handshakes not) per payload byte */
    uint64_t wtx = ws1.wtx - ws0.wtx, ptx = ws1.ptx - ws0.ptx, wrx = ws1.wrx - ws0.wrx, prx = ws1.prx - ws0.prx;
    jadd(",\"wire_tx_bytes\":%" PRIu64 ",\"payload_tx_bytes\":%" PRIu64 ",\"wire_ratio_tx\":%.4f"
         ",\"wire_rx_bytes\":%" PRIu64 ",\"payload_rx_bytes\":%" PRIu64 ",\"wire_ratio_rx\":%.4f"
         ",\"rx_msgs\":%" PRIu64 ",\"rx_compressed_msgs\":%" PRIu64,
         wtx, ptx, ptx ? (double)wtx / (double)ptx : 0, wrx, prx, prx ? (double)wrx / (double)prx : 0,
         ws1.rxm - ws0.rxm, ws1.rxc - ws0.rxc);
  }
  close_all();
  uint64_t t_fin = mono_ns();
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double user = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6, sys = ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  double wall = (double)(t_fin - t_start) / 1e9;
  jadd(",\"checked\":%" PRIu64 ",\"verified_full\":%" PRIu64 ",\"gen_cpu_s\":%.4f,\"gen_window_s\":%.4f,\"gen_cpu_pct\":%.1f"
       ",\"gen_user_s\":%.3f,\"gen_sys_s\":%.3f,\"wall_s\":%.3f,\"gen_cpu_pct_total\":%.1f}",
       n_checked, n_full, wcpu, wwin, wwin > 0 ? 100.0 * wcpu / wwin : 0, user, sys, wall,
       wall > 0 ? 100.0 * (user + sys) / wall : 0);
  puts(json);
  fflush(stdout);
  return 0;
}
