/*
 * libFuzzer target for the notification socket's wire format (consumer/ws_wire):
 * the bytes are what a server sends after the upgrade request, the answer's head and
 * then frames. The first byte picks how the stream is cut into reads, since a socket
 * may split it anywhere. Invariants checked: the handshake never claims more bytes
 * than it was given, no run of payload or control frame is longer than the input
 * carried, and a control frame never exceeds 125 bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "consumer/ws_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct totals {
    size_t payload;
    size_t input;
};

static int count_data(void *ctx, const char *data, size_t len, int final)
{
    struct totals *t = ctx;
    (void)data;
    (void)final;
    t->payload += len;
    if (t->payload > t->input)
        abort();
    return 0;
}

static int count_control(void *ctx, enum ws_opcode opcode, const unsigned char *payload,
                         size_t len)
{
    struct totals *t = ctx;
    (void)opcode;
    (void)payload;
    if (len > WS_CONTROL_MAX || len > t->input)
        abort();
    return 0;
}

static const struct ws_reader_events events = {count_data, count_control};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned char nonce[16] = "the sample nonce";
    if (size == 0)
        return 0;
    size_t chunk = data[0] ? data[0] : size;
    data++;
    size--;

    char errstr[256];
    struct ws_handshake hs;
    if (ws_handshake_init_with_nonce(&hs, nonce, errstr, sizeof errstr) != 0)
        abort();
    struct ws_reader reader;
    ws_reader_init(&reader);
    struct totals totals = {0, size};
    int upgraded = 0;
    for (size_t at = 0; at < size;) {
        size_t n = size - at < chunk ? size - at : chunk;
        const uint8_t *piece = data + at;
        at += n;
        if (!upgraded) {
            size_t used = 0;
            enum ws_handshake_result rc =
                ws_handshake_feed(&hs, (const char *)piece, n, &used, errstr, sizeof errstr);
            if (used > n)
                abort();
            if (rc == WS_HANDSHAKE_FAILED)
                break;
            if (rc == WS_HANDSHAKE_MORE)
                continue;
            upgraded = 1;
            piece += used;
            n -= used;
        }
        if (ws_reader_feed(&reader, piece, n, &events, &totals, errstr, sizeof errstr) !=
            WS_READ_OK)
            break;
    }
    ws_handshake_clear(&hs);
    return 0;
}
