/*
 * The client side of the WebSocket wire protocol (RFC 6455): the opening handshake
 * and the frame format. Bytes in, events and bytes out; no I/O. stream_conn carries
 * it over a raw libwebsockets connection, which still does TCP, TLS and the loop.
 *
 * Why not libwebsockets' own ws client: lws 4.1 passes every received payload byte
 * through its parser's state machine, one call per byte. Under load that was an
 * eighth of the relay's CPU. This reader steps through frame headers byte by byte
 * but hands payload on in runs, as it arrived.
 *
 * Contract:
 *  - Handshake: ws_handshake_init() makes a random key; ws_handshake_request() writes
 *    the upgrade request; ws_handshake_feed() takes the server's response as it
 *    arrives. It answers WS_HANDSHAKE_MORE until the head is complete, then DONE
 *    (*consumed says how much of this chunk was the head; the rest are frames) or
 *    FAILED with errstr saying what was wrong: a status other than 101 (with the
 *    status line), a missing or wrong Upgrade, Connection or Sec-WebSocket-Accept,
 *    an extension or subprotocol that was not offered, a head over 16 KiB.
 *  - Reader: feed the frames in any split. Data messages come out as runs of
 *    payload (on_data, final=1 on the message's last run, which may be empty);
 *    text and binary are not told apart. Control frames come out whole
 *    (on_control). Any violation of the protocol a client must reject (a masked
 *    frame, reserved bits, an unknown opcode, a fragmented or oversized control
 *    frame, a continuation outside a message, a new message inside one, a close
 *    body of one byte, a length with the top bit set) returns WS_READ_ERROR with
 *    errstr naming it; the reader must not be fed again. A callback that returns
 *    nonzero stops the feed at once (WS_READ_STOPPED).
 *  - Writer: ws_frame_write() appends one whole frame, masked with the given key
 *    as a client's frames must be (RFC 6455 5.3).
 */
#ifndef CRELAY_CONSUMER_WS_WIRE_H
#define CRELAY_CONSUMER_WS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "util/strbuf.h"

enum ws_opcode {
    WS_OP_CONTINUATION = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA,
};

#define WS_CONTROL_MAX 125
#define WS_HANDSHAKE_HEAD_MAX (16 * 1024)

/* ---- opening handshake ---- */

struct ws_handshake {
    char key[25];            /* base64 of 16 random bytes */
    char expected_accept[29]; /* base64(SHA-1(key + RFC 6455 GUID)) */
    struct strbuf head;
};

enum ws_handshake_result { WS_HANDSHAKE_MORE, WS_HANDSHAKE_DONE, WS_HANDSHAKE_FAILED };

/* Returns -1 with errstr when no random bytes or SHA-1 could be had. */
int ws_handshake_init(struct ws_handshake *hs, char *errstr, size_t errstr_size);
/* As ws_handshake_init with a given 16-byte nonce; for tests. */
int ws_handshake_init_with_nonce(struct ws_handshake *hs, const unsigned char nonce[16],
                                 char *errstr, size_t errstr_size);
void ws_handshake_clear(struct ws_handshake *hs);

/* host_header is what the Host header says: "host" or "host:port". */
void ws_handshake_request(const struct ws_handshake *hs, struct strbuf *out,
                          const char *host_header, const char *path, const char *user_agent);

enum ws_handshake_result ws_handshake_feed(struct ws_handshake *hs, const char *data, size_t len,
                                           size_t *consumed, char *errstr, size_t errstr_size);

/* ---- frames ---- */

struct ws_reader_events {
    int (*on_data)(void *ctx, const char *data, size_t len, int final);
    int (*on_control)(void *ctx, enum ws_opcode opcode, const unsigned char *payload,
                      size_t len);
};

struct ws_reader {
    unsigned char header[14];
    size_t header_len;
    size_t header_need;
    int in_payload;
    int fin;
    enum ws_opcode opcode;
    uint64_t remaining;
    int in_message; /* a data message has begun and its final frame not yet come */
    unsigned char control[WS_CONTROL_MAX];
    size_t control_len;
};

enum ws_read_result { WS_READ_OK = 0, WS_READ_STOPPED = 1, WS_READ_ERROR = -1 };

void ws_reader_init(struct ws_reader *reader);

enum ws_read_result ws_reader_feed(struct ws_reader *reader, const unsigned char *data, size_t len,
                                   const struct ws_reader_events *events, void *ctx, char *errstr,
                                   size_t errstr_size);

void ws_frame_write(struct strbuf *out, enum ws_opcode opcode, const void *payload, size_t len,
                    const unsigned char mask[4]);

#endif
