/*
 * bench/loadgen.c: a single-threaded epoll load generator for WebSocket servers (RFC 6455
 * client role) and for the length-prefixed "raw" protocol of bench/servers/net-ceiling.mjs.
 *
 * Built by bench/run.mjs with `gcc -O2 -o bench/.build/loadgen bench/loadgen.c`.
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
} opt = {
  .mode = -1, .proto = P_WS, .host = "127.0.0.1", .path = "/", .port = 0, .conns = 1,
  .inflight = 1, .size = 32, .duration = 5, .warmup = 1, .rate = 10000, .timeout = 0,
  .grace = 2, .hold = 0, .max_pending = 256, .verify_every = 64,
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
  uint8_t head[16], last;
  uint8_t ctrl_buf[125];
  int ctrl_len, ctrl_op;
  uint64_t send_seq, recv_seq;
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

/* counters */
static uint64_t n_msgs, n_bytes, n_deliveries, n_checked, n_full;
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

/* Queues one message (header + payload) on c. aux: bytes 8..15 (latency: scheduled time). */
static void queue_msg(conn *c, uint64_t aux) {
  size_t S = opt.size, hl = 0;
  uint64_t seq = c->send_seq++;
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
  uint32_t k32;
  memcpy(&k32, k, 4);
  uint64_t k64 = (uint64_t)k32 | ((uint64_t)k32 << 32);
  size_t i = 16;
  for (; i + 8 <= S; i += 8) {
    uint64_t t;
    memcpy(&t, pattern + i, 8);
    t ^= k64;
    memcpy(w + i, &t, 8);
  }
  for (; i < S; i++) w[i] = pattern[i] ^ k[i & 3];
  c->out_len += hl + S;
}

static void queue_pong(conn *c, const uint8_t *p, int n) {
  uint8_t *w = out_reserve(c, 6 + (size_t)n);
  uint32_t mask = (uint32_t)(rng64() >> 32);
  uint8_t m[4];
  memcpy(m, &mask, 4);
  w[0] = 0x8A;
  w[1] = (uint8_t)(0x80 | n);
  memcpy(w + 2, m, 4);
  for (int i = 0; i < n; i++) w[6 + i] = p[i] ^ m[i & 3];
  c->out_len += 6 + (size_t)n;
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
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                   opt.path, opt.host, opt.port, key);
  memcpy(out_reserve(c, (size_t)n), req, (size_t)n);
  c->out_len += (size_t)n;
  c->hs = malloc(HS_MAX + 1);
  if (!c->hs) die(EXIT_SETUP, "out of memory");
  c->hs_len = 0;
  flush(c);
}

static void feed_frames(conn *c, const uint8_t *p, size_t n);

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
  int ok_accept = 0, ok_upgrade = 0;
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
    }
  }
  if (!ok_accept) die(EXIT_WRONG, "connection %d: 101 response without Sec-WebSocket-Accept", c->idx);
  if (!ok_upgrade) die(EXIT_WRONG, "connection %d: 101 response without 'Upgrade: websocket'", c->idx);
  free(c->hs);
  c->hs = NULL;
  c->state = ST_OPEN;
  on_open(c);
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
  uint64_t off = c->msg_off;
  if (off + n > opt.size)
    die(EXIT_WRONG, "ECHO MISMATCH on connection %d, message seq %" PRIu64 ": longer than the %zu bytes sent",
        c->idx, c->recv_seq, opt.size);
  if (off < 16) {
    size_t k = 16 - off < n ? 16 - off : n;
    memcpy(c->head + off, p, k);
  }
  if (c->sampled) {
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
    if (c->ctrl_op == 0x9) { queue_pong(c, c->ctrl_buf, c->ctrl_len); return; }
    if (c->ctrl_op == 0xA) return;
    /* close */
    if (closing) return;
    unsigned code = c->ctrl_len >= 2 ? (unsigned)c->ctrl_buf[0] << 8 | c->ctrl_buf[1] : 0;
    die(EXIT_WRONG, "connection %d: the server sent a close frame (code %u, reason '%.*s')", c->idx, code,
        c->ctrl_len > 2 ? c->ctrl_len - 2 : 0, (const char *)c->ctrl_buf + 2);
  }
  if (c->fin) on_message(c);
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
    if (b0 & 0x70) die(EXIT_WRONG, "connection %d: frame with RSV bits 0x%x (no extension was negotiated)", c->idx, b0 & 0x70);
    int op = b0 & 0x0f;
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
        if (op == 1) die(EXIT_WRONG, "connection %d: echo of a binary message came back as text", c->idx);
        c->in_msg = 1;
        c->msg_off = 0;
        c->sampled = c->state == ST_OPEN && c->recv_seq % opt.verify_every == 0;
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
      payload_bytes(c, p, take);
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
  if (c->state == ST_OPEN && c->ps == PS_PAYLOAD && !c->ctrl && !c->sampled && c->msg_off >= 16 &&
      c->frame_left > SKIP_MIN && c->msg_off + c->frame_left <= opt.size) {
    size_t skip = c->frame_left - 1 < RBUF_SIZE ? (size_t)c->frame_left - 1 : RBUF_SIZE;
    ssize_t n = recv(c->fd, rbuf, skip, MSG_TRUNC);
    if (n > 0) {
      c->frame_left -= (uint64_t)n;
      c->msg_off += (uint64_t)n;
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
  if (c->state == ST_HANDSHAKE && opt.proto == P_WS) {
    size_t used = feed_handshake(c, p, len);
    p += used;
    len -= used;
  }
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

static void on_message(conn *c) {
  c->in_msg = 0;
  if (c->state == ST_HANDSHAKE) { /* raw greeting */
    if (c->msg_off != 0) die(EXIT_WRONG, "connection %d: raw greeting should be empty, got %" PRIu64 " bytes", c->idx, c->msg_off);
    on_open(c);
    return;
  }
  if (c->msg_off != opt.size)
    die(EXIT_WRONG, "ECHO MISMATCH on connection %d, message seq %" PRIu64 ": %" PRIu64 " bytes, expected %zu",
        c->idx, c->recv_seq, c->msg_off, opt.size);
  uint64_t seq = get_le64(c->head), aux = get_le64(c->head + 8);
  if (seq != c->recv_seq)
    die(EXIT_WRONG, "ECHO MISMATCH on connection %d: message carries seq %" PRIu64 ", expected %" PRIu64
        " (lost, duplicated or reordered)", c->idx, seq, c->recv_seq);
  if (opt.mode != M_LATENCY && aux != (seq ^ AUX_XOR))
    die(EXIT_WRONG, "ECHO MISMATCH on connection %d, message seq %" PRIu64 ": bytes 8..15 corrupted", c->idx, seq);
  if (opt.size > 16) {
    uint8_t want = pattern[opt.size - 1] ^ kbyte(seq);
    if (c->last != want) mismatch(c, "last byte", opt.size - 1, want, c->last);
  }
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
    conns[i].out = NULL;
    conns[i].hs = NULL;
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
          "  --proto ws|raw        WebSocket client (default) or 4-byte length framing\n"
          "  --host H --port P     server (default 127.0.0.1)\n"
          "  --path /P             request path (ws)\n"
          "  --conns N             connections (broadcast: receivers; +1 sender)\n"
          "  --inflight K          echo: messages in flight per connection; broadcast: in total\n"
          "  --size S              payload bytes per message (>= 16)\n"
          "  --duration S --warmup S   measured window and warm-up before it (seconds)\n"
          "  --rate R              latency: total messages per second over all connections\n"
          "  --grace S             latency: wait this long for the last echoes\n"
          "  --max-pending N       connections being opened at once (default 256)\n"
          "  --verify-every N      check every byte of every N-th message (default 64)\n"
          "  --hold S              idle: hold S seconds (default: until stdin has input or EOF)\n"
          "  --timeout S           give up after S seconds (default: warm-up + duration + 60)\n");
  exit(EXIT_SETUP);
}

static double num_arg(const char *name, const char *v) {
  char *end;
  double d = strtod(v, &end);
  if (!*v || *end || d < 0) die(EXIT_SETUP, "%s needs a non-negative number, got '%s'", name, v);
  return d;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) usage();
    if (i + 1 >= argc) die(EXIT_SETUP, "%s needs a value (try --help)", a);
    const char *v = argv[++i];
    if (!strcmp(a, "--mode")) {
      opt.mode = -1;
      for (int m = 0; m < 5; m++) if (!strcmp(v, MODE_NAMES[m])) opt.mode = m;
      if (opt.mode < 0) die(EXIT_SETUP, "unknown mode '%s'", v);
    } else if (!strcmp(a, "--proto")) {
      if (!strcmp(v, "ws")) opt.proto = P_WS;
      else if (!strcmp(v, "raw")) opt.proto = P_RAW;
      else die(EXIT_SETUP, "unknown protocol '%s' (ws or raw)", v);
    } else if (!strcmp(a, "--host")) opt.host = v;
    else if (!strcmp(a, "--path")) opt.path = v;
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
    else die(EXIT_SETUP, "unknown option '%s' (try --help)", a);
  }
  if (opt.mode < 0) usage();
  if (opt.port <= 0 || opt.port > 65535) die(EXIT_SETUP, "--port is required (1..65535)");
  if (opt.conns < 1 || opt.inflight < 1 || opt.max_pending < 1 || opt.verify_every < 1)
    die(EXIT_SETUP, "--conns, --inflight, --max-pending and --verify-every must be >= 1");
  if (opt.size < 16 || opt.size > (1u << 30)) die(EXIT_SETUP, "--size must be 16 .. 2^30 bytes");
  if (opt.mode == M_LATENCY && opt.rate <= 0) die(EXIT_SETUP, "--rate must be > 0");
  if (opt.path[0] != '/') die(EXIT_SETUP, "--path must start with '/'");

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
       opt.proto == P_WS ? "ws" : "raw", opt.port, opt.conns);

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
      }
      if (measuring && t_now >= t_end) {
        w_t1 = t_now; w_c1 = cpu_ns();
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
