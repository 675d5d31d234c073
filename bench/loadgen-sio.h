/*
 * bench/loadgen-sio.h: the Socket.IO v5 / Engine.IO v4 packets the load generator speaks with
 * `--proto sio` (WebSocket transport only). Pure functions on message bytes; the connection
 * state machine around them is in loadgen.c. See loadgen-sio.c for the protocol references.
 */
#ifndef LOADGEN_SIO_H
#define LOADGEN_SIO_H

#include <stddef.h>
#include <stdint.h>

/* Engine.IO v4 "Transports" > "WebSocket": a WebSocket straight away, no polling first. */
#define SIO_PATH "/socket.io/?EIO=4&transport=websocket"
#define SIO_MIN_SIZE 32    /* payload: 16 hex digits of seq, 16 of aux, then letters and digits */
#define SIO_CTRL_MAX 1024  /* longest non-event packet accepted (the open packet, CONNECT reply) */

enum sio_kind { SIO_OPEN, SIO_PING, SIO_NOOP, SIO_CONNECTED, SIO_EVENT };

/* Bytes of 42["<event>","<size bytes>"]. */
size_t sio_event_len(const char *event, size_t size);

/* Writes 42["<event>","<payload of message seq>"] to out (sio_event_len bytes); returns its length. */
size_t sio_event_build(uint8_t *out, const char *event, size_t size, uint64_t seq, uint64_t aux);

/* What a text message from the server is; -1 (and why) for a packet the run cannot go on with. */
int sio_classify(const uint8_t *m, size_t n, char *why, size_t why_len);

/*
 * Checks an event message: its length, the 42["<event>"," prefix, the "] suffix, the two hex
 * words (returned in seq and aux) and the last payload byte; with `full`, every payload byte
 * against the payload rebuilt from seq. Returns 0, or -1 with why.
 */
int sio_event_check(const uint8_t *m, size_t n, const char *event, size_t size, int full, uint64_t *seq,
                    uint64_t *aux, char *why, size_t why_len);

#endif
