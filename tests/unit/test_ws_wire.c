/* Tests of consumer/ws_wire: the upgrade request and the checks on the server's answer
 * (RFC 6455's own example key), frames read in every split a socket could deliver,
 * every protocol violation a client must refuse, and masked client frames that
 * unmask to what was sent. */
#include "consumer/ws_wire.h"

#include <stdlib.h>
#include <string.h>

#include "tests/harness.h"
#include "util/strbuf.h"

/* RFC 6455 1.3: the nonce "the sample nonce" and the answer it must get. */
static const unsigned char rfc_nonce[16] = "the sample nonce";
#define RFC_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define RFC_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

static const char good_response[] = "HTTP/1.1 101 Switching Protocols\r\n"
                                    "Upgrade: WebSocket\r\n"
                                    "Connection: keep-alive, Upgrade\r\n"
                                    "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n"
                                    "\r\n";

/* ---- recording what the reader hands over ---- */

struct recorder {
    struct strbuf log;     /* "T5", "F3" (data runs, F when final), "P2", "C2" (control) */
    struct strbuf message; /* the current message's bytes */
    struct strbuf messages; /* whole messages, each followed by '|' */
    int stop_after_messages; /* 0: never stop */
    int message_count;
};

static int record_data(void *ctx, const char *data, size_t len, int final)
{
    struct recorder *r = ctx;
    strbuf_appendf(&r->log, "%c%zu ", final ? 'F' : 'T', len);
    strbuf_append_len(&r->message, data, len);
    if (final) {
        strbuf_append_len(&r->messages, r->message.data ? r->message.data : "", r->message.len);
        strbuf_append_char(&r->messages, '|');
        strbuf_reset(&r->message);
        r->message_count++;
        if (r->stop_after_messages && r->message_count >= r->stop_after_messages)
            return 1;
    }
    return 0;
}

static int record_control(void *ctx, enum ws_opcode opcode, const unsigned char *payload,
                          size_t len)
{
    struct recorder *r = ctx;
    char kind = opcode == WS_OP_PING ? 'P' : opcode == WS_OP_PONG ? 'O' : 'C';
    strbuf_appendf(&r->log, "%c%zu:", kind, len);
    strbuf_append_len(&r->log, payload, len);
    strbuf_append_char(&r->log, ' ');
    return 0;
}

static const struct ws_reader_events recorder_events = {record_data, record_control};

static void recorder_free(struct recorder *r)
{
    strbuf_free(&r->log);
    strbuf_free(&r->message);
    strbuf_free(&r->messages);
}

/* A frame as a server sends it: unmasked. length_form 0 picks the shortest encoding,
 * 126 or 127 forces the 16- or 64-bit one. */
static void server_frame(struct strbuf *out, int fin, unsigned opcode, const char *payload,
                         size_t len, int length_form)
{
    strbuf_append_char(out, (char)((fin ? 0x80 : 0) | opcode));
    if (length_form == 0)
        length_form = len < 126 ? 0 : len <= 0xffff ? 126 : 127;
    if (length_form == 0) {
        strbuf_append_char(out, (char)len);
    } else if (length_form == 126) {
        strbuf_append_char(out, 126);
        strbuf_append_char(out, (char)(len >> 8));
        strbuf_append_char(out, (char)len);
    } else {
        strbuf_append_char(out, 127);
        for (int shift = 56; shift >= 0; shift -= 8)
            strbuf_append_char(out, (char)((uint64_t)len >> shift));
    }
    strbuf_append_len(out, payload, len);
}

/* Feeds the stream in pieces of chunk bytes; returns the last result. */
static enum ws_read_result feed_in_pieces(struct ws_reader *reader, const struct strbuf *stream,
                                          size_t chunk, struct recorder *rec, char *errstr,
                                          size_t errstr_size)
{
    enum ws_read_result rc = WS_READ_OK;
    for (size_t at = 0; at < stream->len && rc == WS_READ_OK; at += chunk) {
        size_t n = stream->len - at < chunk ? stream->len - at : chunk;
        rc = ws_reader_feed(reader, (const unsigned char *)stream->data + at, n,
                            &recorder_events, rec, errstr, errstr_size);
    }
    return rc;
}

/* ---- handshake ---- */

static void test_request_carries_the_rfc_key(void)
{
    struct ws_handshake hs;
    char errstr[256] = "";
    REQUIRE(ws_handshake_init_with_nonce(&hs, rfc_nonce, errstr, sizeof errstr) == 0);
    CHECK_EQ_STR(hs.key, RFC_KEY);
    CHECK_EQ_STR(hs.expected_accept, RFC_ACCEPT);

    struct strbuf request = {0};
    ws_handshake_request(&hs, &request, "streaming.example.com:8443", "/channels/abc",
                         "campaign-relay/1");
    CHECK_EQ_STR(strbuf_cstr(&request),
                 "GET /channels/abc HTTP/1.1\r\n"
                 "Host: streaming.example.com:8443\r\n"
                 "Upgrade: websocket\r\n"
                 "Connection: Upgrade\r\n"
                 "Sec-WebSocket-Key: " RFC_KEY "\r\n"
                 "Sec-WebSocket-Version: 13\r\n"
                 "User-Agent: campaign-relay/1\r\n"
                 "\r\n");
    strbuf_free(&request);
    ws_handshake_clear(&hs);
}

static void test_random_keys_differ(void)
{
    struct ws_handshake a, b;
    char errstr[256];
    REQUIRE(ws_handshake_init(&a, errstr, sizeof errstr) == 0);
    REQUIRE(ws_handshake_init(&b, errstr, sizeof errstr) == 0);
    CHECK_EQ_INT(strlen(a.key), 24);
    CHECK(strcmp(a.key, b.key) != 0);
}

/* The answer split at every byte, with the first frames in the same read. */
static void test_response_in_any_split_leaves_the_frames(void)
{
    struct strbuf stream = {0};
    strbuf_append(&stream, good_response);
    size_t head_len = stream.len;
    server_frame(&stream, 1, WS_OP_TEXT, "{\"a\":1}", 7, 0);

    for (size_t split = 0; split <= stream.len; split++) {
        struct ws_handshake hs;
        char errstr[256] = "";
        REQUIRE(ws_handshake_init_with_nonce(&hs, rfc_nonce, errstr, sizeof errstr) == 0);
        size_t used = 0, total = 0;
        enum ws_handshake_result rc = WS_HANDSHAKE_MORE;
        if (split > 0) {
            rc = ws_handshake_feed(&hs, stream.data, split, &used, errstr, sizeof errstr);
            total += used;
        }
        if (rc == WS_HANDSHAKE_MORE) {
            CHECK_MSG(split < head_len, "split %zu: the head was complete", split);
            rc = ws_handshake_feed(&hs, stream.data + split, stream.len - split, &used, errstr,
                                   sizeof errstr);
            total += used;
        }
        CHECK_MSG(rc == WS_HANDSHAKE_DONE, "split %zu: %s", split, errstr);
        CHECK_MSG(total == head_len, "split %zu: used %zu of the head's %zu", split, total,
                  head_len);
        ws_handshake_clear(&hs);
    }
    strbuf_free(&stream);
}

static void expect_refusal(const char *response, size_t response_len, const char *expected_text)
{
    struct ws_handshake hs;
    char errstr[256] = "";
    REQUIRE(ws_handshake_init_with_nonce(&hs, rfc_nonce, errstr, sizeof errstr) == 0);
    size_t used = 0;
    enum ws_handshake_result rc =
        ws_handshake_feed(&hs, response, response_len, &used, errstr, sizeof errstr);
    CHECK_MSG(rc == WS_HANDSHAKE_FAILED, "accepted: %.60s", response);
    CHECK_CONTAINS(errstr, expected_text);
    ws_handshake_clear(&hs);
}

#define REFUSE(response, text) expect_refusal(response, sizeof(response) - 1, text)

static void test_bad_answers_are_refused_with_the_reason(void)
{
    REFUSE("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
           "answered \"404 Not Found\", not 101");
    REFUSE("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n\r\n",
           "no \"Upgrade: websocket\"");
    REFUSE("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n\r\n",
           "no \"Upgrade: websocket\"");
    REFUSE("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: close\r\n"
           "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n\r\n",
           "no \"Connection: Upgrade\"");
    REFUSE("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "\r\n",
           "no Sec-WebSocket-Accept");
    REFUSE("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
           "Sec-WebSocket-Accept does not match");
    REFUSE("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n"
           "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
           "extension \"permessage-deflate\"");
    REFUSE("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\nSec-WebSocket-Protocol: chat\r\n\r\n",
           "subprotocol \"chat\"");
    REFUSE("HTTP/1.1 101 Switching Protocols\r\nUpgrade websocket\r\n\r\n",
           "header line without a colon: \"Upgrade websocket\"");
    REFUSE("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n continued\r\n\r\n",
           "folded header line");
    REFUSE("SSH-2.0-OpenSSH_9.2\r\n\r\n", "does not start with an HTTP status line");
    REFUSE("\r\n\r\n", "does not start with an HTTP status line");
    REFUSE("HTTP/1.1 101\0 Switching\r\n\r\n", "does not start with an HTTP status line");
    /* Bytes a terminal would act on are not copied into the message. */
    REFUSE("HTTP/1.1 500 \x1b[31mboom\r\n\r\n", "\"500 ?[31mboom\"");
}

static void test_endless_head_is_refused(void)
{
    struct ws_handshake hs;
    char errstr[256] = "";
    REQUIRE(ws_handshake_init_with_nonce(&hs, rfc_nonce, errstr, sizeof errstr) == 0);
    static const char line[] = "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    enum ws_handshake_result rc = ws_handshake_feed(&hs, "HTTP/1.1 101 OK\r\n", 17, &(size_t){0},
                                                    errstr, sizeof errstr);
    size_t fed = 17;
    while (rc == WS_HANDSHAKE_MORE && fed < 4 * WS_HANDSHAKE_HEAD_MAX) {
        size_t used = 0;
        rc = ws_handshake_feed(&hs, line, sizeof line - 1, &used, errstr, sizeof errstr);
        fed += sizeof line - 1;
    }
    CHECK(rc == WS_HANDSHAKE_FAILED);
    CHECK_CONTAINS(errstr, "larger than 16384 bytes");
    CHECK(fed <= WS_HANDSHAKE_HEAD_MAX + sizeof line);
    ws_handshake_clear(&hs);
}

/* ---- reading frames ---- */

static void test_messages_read_alike_in_every_split(void)
{
    char big[70000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    struct strbuf stream = {0};
    server_frame(&stream, 1, WS_OP_TEXT, "{\"topicName\":\"x\"}", 17, 0);
    server_frame(&stream, 1, WS_OP_TEXT, big, 300, 0);         /* 16-bit length */
    server_frame(&stream, 1, WS_OP_TEXT, "tiny", 4, 127);      /* 64-bit, not minimal */
    server_frame(&stream, 0, WS_OP_TEXT, "frag", 4, 0);        /* a message in three frames */
    server_frame(&stream, 1, WS_OP_PING, "hb", 2, 0);          /* control between fragments */
    server_frame(&stream, 0, WS_OP_CONTINUATION, "men", 3, 0);
    server_frame(&stream, 1, WS_OP_CONTINUATION, "ted", 3, 0);
    server_frame(&stream, 1, WS_OP_TEXT, "", 0, 0);            /* empty message */
    server_frame(&stream, 1, WS_OP_BINARY, "bin", 3, 0);
    server_frame(&stream, 1, WS_OP_TEXT, big, sizeof big, 0);  /* 64-bit length */
    server_frame(&stream, 1, WS_OP_PONG, "", 0, 0);

    struct strbuf expected = {0};
    strbuf_append(&expected, "{\"topicName\":\"x\"}|");
    strbuf_append_len(&expected, big, 300);
    strbuf_append(&expected, "|tiny|fragmented||bin|");
    strbuf_append_len(&expected, big, sizeof big);
    strbuf_append_char(&expected, '|');

    static const size_t chunks[] = {1, 2, 3, 7, 13, 64, 1000, 4096, 65536, 1 << 20};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        struct ws_reader reader;
        ws_reader_init(&reader);
        struct recorder rec = {0};
        char errstr[256] = "";
        enum ws_read_result rc =
            feed_in_pieces(&reader, &stream, chunks[c], &rec, errstr, sizeof errstr);
        CHECK_MSG(rc == WS_READ_OK, "pieces of %zu: %s", chunks[c], errstr);
        CHECK_EQ_INT(rec.message_count, 7);
        CHECK_MSG(rec.messages.len == expected.len &&
                      memcmp(rec.messages.data, expected.data, expected.len) == 0,
                  "pieces of %zu: messages differ", chunks[c]);
        CHECK_CONTAINS(strbuf_cstr(&rec.log), "P2:hb ");
        CHECK_CONTAINS(strbuf_cstr(&rec.log), "O0: ");
        recorder_free(&rec);
    }

    /* Read whole, each run is a frame's payload and only the last run is final. */
    struct ws_reader reader;
    ws_reader_init(&reader);
    struct recorder rec = {0};
    char errstr[256] = "";
    CHECK(feed_in_pieces(&reader, &stream, stream.len, &rec, errstr, sizeof errstr) ==
          WS_READ_OK);
    CHECK_EQ_STR(strbuf_cstr(&rec.log),
                 "F17 F300 F4 T4 P2:hb T3 F3 F0 F3 F70000 O0: ");
    recorder_free(&rec);
    strbuf_free(&expected);
    strbuf_free(&stream);
}

static void test_close_frame_is_handed_over_whole(void)
{
    struct strbuf stream = {0};
    server_frame(&stream, 1, WS_OP_CLOSE, "\x03\xe9going away", 12, 0);
    struct ws_reader reader;
    ws_reader_init(&reader);
    struct recorder rec = {0};
    char errstr[256] = "";
    CHECK(feed_in_pieces(&reader, &stream, 5, &rec, errstr, sizeof errstr) == WS_READ_OK);
    CHECK_EQ_STR(strbuf_cstr(&rec.log), "C12:\x03\xe9going away ");
    recorder_free(&rec);
    strbuf_free(&stream);
}

static void test_callback_can_stop_the_feed(void)
{
    struct strbuf stream = {0};
    server_frame(&stream, 1, WS_OP_TEXT, "one", 3, 0);
    server_frame(&stream, 1, WS_OP_TEXT, "two", 3, 0);
    struct ws_reader reader;
    ws_reader_init(&reader);
    struct recorder rec = {.stop_after_messages = 1};
    char errstr[256] = "";
    CHECK(ws_reader_feed(&reader, (const unsigned char *)stream.data, stream.len,
                         &recorder_events, &rec, errstr, sizeof errstr) == WS_READ_STOPPED);
    CHECK_EQ_STR(strbuf_cstr(&rec.messages), "one|");
    recorder_free(&rec);
    strbuf_free(&stream);
}

static void expect_violation(const char *bytes, size_t len, const char *expected_text)
{
    struct ws_reader reader;
    ws_reader_init(&reader);
    struct recorder rec = {0};
    char errstr[256] = "";
    enum ws_read_result rc = ws_reader_feed(&reader, (const unsigned char *)bytes, len,
                                            &recorder_events, &rec, errstr, sizeof errstr);
    CHECK_MSG(rc == WS_READ_ERROR, "accepted, expected \"%s\"", expected_text);
    CHECK_CONTAINS(errstr, expected_text);
    recorder_free(&rec);
}

#define VIOLATION(bytes, text) expect_violation(bytes, sizeof(bytes) - 1, text)

static void test_protocol_violations_are_refused(void)
{
    VIOLATION("\x81\x83mask" "abc", "the server masked a frame");
    VIOLATION("\xc1\x01x", "reserved bits 0x40 set");
    VIOLATION("\x91\x01x", "reserved bits 0x10 set");
    VIOLATION("\x83\x01x", "unknown opcode 0x3");
    VIOLATION("\x8b\x00", "unknown opcode 0xb");
    VIOLATION("\x09\x00", "a fragmented control frame");
    VIOLATION("\x89\x7e\x00\x80", "a control frame longer than 125 bytes");
    VIOLATION("\x80\x01x", "a continuation frame outside a message");
    VIOLATION("\x01\x01x\x81\x01y", "a new message began before the previous one ended");
    VIOLATION("\x88\x01x", "a close frame with a one-byte body");
    VIOLATION("\x81\x7f\x80\x00\x00\x00\x00\x00\x00\x01", "a frame length with the top bit set");
}

/* ---- writing frames ---- */

static void test_client_frames_are_masked_and_unmask_to_the_payload(void)
{
    static const size_t lengths[] = {0, 1, 125, 126, 65535, 65536, 70001};
    static const unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    char *payload = malloc(70001);
    REQUIRE(payload != NULL);
    for (size_t i = 0; i < 70001; i++)
        payload[i] = (char)(i * 7 + 3);
    for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++) {
        size_t len = lengths[l];
        struct strbuf out = {0};
        ws_frame_write(&out, WS_OP_TEXT, payload, len, mask);
        const unsigned char *f = (const unsigned char *)out.data;
        CHECK_EQ_INT(f[0], 0x81);
        CHECK(f[1] & 0x80);
        size_t header = 2, got = f[1] & 0x7f;
        if (got == 126) {
            got = ((size_t)f[2] << 8) | f[3];
            header = 4;
        } else if (got == 127) {
            got = 0;
            for (int i = 2; i < 10; i++)
                got = (got << 8) | f[i];
            header = 10;
        }
        CHECK_EQ_INT(got, len);
        CHECK_EQ_INT(header, len < 126 ? 2 : len <= 0xffff ? 4 : 10);
        CHECK(memcmp(f + header, mask, 4) == 0);
        CHECK_EQ_INT(out.len, header + 4 + len);
        size_t differing = 0;
        for (size_t i = 0; i < len; i++)
            differing += (unsigned char)(f[header + 4 + i] ^ mask[i & 3]) !=
                         (unsigned char)payload[i];
        CHECK_EQ_INT(differing, 0);
        strbuf_free(&out);
    }
    free(payload);
}

int main(void)
{
    RUN(test_request_carries_the_rfc_key);
    RUN(test_random_keys_differ);
    RUN(test_response_in_any_split_leaves_the_frames);
    RUN(test_bad_answers_are_refused_with_the_reason);
    RUN(test_endless_head_is_refused);
    RUN(test_messages_read_alike_in_every_split);
    RUN(test_close_frame_is_handed_over_whole);
    RUN(test_callback_can_stop_the_feed);
    RUN(test_protocol_violations_are_refused);
    RUN(test_client_frames_are_masked_and_unmask_to_the_payload);
    return harness_finish();
}
