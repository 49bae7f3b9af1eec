#include "consumer/ws_wire.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* ---- opening handshake ---- */

int ws_handshake_init_with_nonce(struct ws_handshake *hs, const unsigned char nonce[16],
                                 char *errstr, size_t errstr_size)
{
    memset(hs, 0, sizeof *hs);
    EVP_EncodeBlock((unsigned char *)hs->key, nonce, 16);

    unsigned char keyed[sizeof hs->key - 1 + sizeof ws_guid - 1];
    memcpy(keyed, hs->key, sizeof hs->key - 1);
    memcpy(keyed + sizeof hs->key - 1, ws_guid, sizeof ws_guid - 1);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    if (!EVP_Digest(keyed, sizeof keyed, digest, &digest_len, EVP_sha1(), NULL) ||
        digest_len != 20) {
        snprintf(errstr, errstr_size, "websocket: OpenSSL has no SHA-1 for the handshake");
        return -1;
    }
    EVP_EncodeBlock((unsigned char *)hs->expected_accept, digest, 20);
    return 0;
}

int ws_handshake_init(struct ws_handshake *hs, char *errstr, size_t errstr_size)
{
    unsigned char nonce[16];
    if (RAND_bytes(nonce, sizeof nonce) != 1) {
        memset(hs, 0, sizeof *hs);
        snprintf(errstr, errstr_size, "websocket: no random bytes for the handshake key");
        return -1;
    }
    return ws_handshake_init_with_nonce(hs, nonce, errstr, errstr_size);
}

void ws_handshake_clear(struct ws_handshake *hs)
{
    strbuf_free(&hs->head);
}

void ws_handshake_request(const struct ws_handshake *hs, struct strbuf *out,
                          const char *host_header, const char *path, const char *user_agent)
{
    strbuf_append(out, "GET ");
    strbuf_append(out, path);
    strbuf_append(out, " HTTP/1.1\r\nHost: ");
    strbuf_append(out, host_header);
    strbuf_append(out, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ");
    strbuf_append(out, hs->key);
    strbuf_append(out, "\r\nSec-WebSocket-Version: 13\r\n");
    if (user_agent && user_agent[0]) {
        strbuf_append(out, "User-Agent: ");
        strbuf_append(out, user_agent);
        strbuf_append(out, "\r\n");
    }
    strbuf_append(out, "\r\n");
}

/* Copies at most 80 bytes of untrusted text into an error message, printable only. */
static void quote_text(char *dst, size_t dst_size, const char *src, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len && i < 80 && n + 1 < dst_size; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (dst_size)
        dst[n] = '\0';
}

static int header_is(const char *name, size_t name_len, const char *wanted)
{
    return strlen(wanted) == name_len && strncasecmp(name, wanted, name_len) == 0;
}

/* Connection is a comma-separated token list ("keep-alive, Upgrade"). */
static int list_has_token(const char *value, size_t len, const char *token)
{
    size_t token_len = strlen(token);
    size_t i = 0;
    while (i < len) {
        while (i < len && (value[i] == ' ' || value[i] == '\t' || value[i] == ','))
            i++;
        size_t start = i;
        while (i < len && value[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (value[end - 1] == ' ' || value[end - 1] == '\t'))
            end--;
        if (end - start == token_len && strncasecmp(value + start, token, token_len) == 0)
            return 1;
    }
    return 0;
}

static enum ws_handshake_result handshake_fail(char *errstr, size_t errstr_size, const char *what)
{
    snprintf(errstr, errstr_size, "websocket handshake: %s", what);
    return WS_HANDSHAKE_FAILED;
}

/* head: the response up to and including its blank line. */
static enum ws_handshake_result check_head(const struct ws_handshake *hs, const char *head,
                                           size_t head_len, char *errstr, size_t errstr_size)
{
    char quoted[96];
    char message[224];
    const char *end = head + head_len;
    /* The head ends in a blank line, so every search for a line end succeeds; memmem
     * because a hostile head may hold NUL bytes. */
    const char *line_end = memmem(head, head_len, "\r\n", 2);

    /* "HTTP/1.1 101 Switching Protocols" */
    if (strncmp(head, "HTTP/1.", 7) != 0 || line_end - head < 12 || head[8] != ' ' ||
        !isdigit((unsigned char)head[9]) || !isdigit((unsigned char)head[10]) ||
        !isdigit((unsigned char)head[11]) || (line_end - head > 12 && head[12] != ' ')) {
        quote_text(quoted, sizeof quoted, head, (size_t)(line_end - head));
        snprintf(message, sizeof message, "the response does not start with an HTTP status line: \"%s\"",
                 quoted);
        return handshake_fail(errstr, errstr_size, message);
    }
    int status = (head[9] - '0') * 100 + (head[10] - '0') * 10 + (head[11] - '0');
    if (status != 101) {
        quote_text(quoted, sizeof quoted, head + 9, (size_t)(line_end - head - 9));
        snprintf(message, sizeof message, "the server answered \"%s\", not 101 Switching Protocols",
                 quoted);
        return handshake_fail(errstr, errstr_size, message);
    }

    int upgrade_ok = 0, connection_ok = 0, accept_ok = 0;
    const char *line = line_end + 2;
    while (line < end) {
        line_end = memmem(line, (size_t)(end - line), "\r\n", 2);
        if (line_end == line)
            break; /* the blank line */
        if (*line == ' ' || *line == '\t')
            return handshake_fail(errstr, errstr_size, "a folded header line in the response");
        const char *colon = memchr(line, ':', (size_t)(line_end - line));
        if (!colon) {
            quote_text(quoted, sizeof quoted, line, (size_t)(line_end - line));
            snprintf(message, sizeof message, "a response header line without a colon: \"%s\"",
                     quoted);
            return handshake_fail(errstr, errstr_size, message);
        }
        size_t name_len = (size_t)(colon - line);
        const char *value = colon + 1;
        const char *value_end = line_end;
        while (value < value_end && (*value == ' ' || *value == '\t'))
            value++;
        while (value_end > value && (value_end[-1] == ' ' || value_end[-1] == '\t'))
            value_end--;
        size_t value_len = (size_t)(value_end - value);

        if (header_is(line, name_len, "upgrade")) {
            upgrade_ok = value_len == 9 && strncasecmp(value, "websocket", 9) == 0;
        } else if (header_is(line, name_len, "connection")) {
            connection_ok = list_has_token(value, value_len, "upgrade");
        } else if (header_is(line, name_len, "sec-websocket-accept")) {
            accept_ok = value_len == strlen(hs->expected_accept) &&
                        memcmp(value, hs->expected_accept, value_len) == 0;
            if (!accept_ok)
                return handshake_fail(errstr, errstr_size,
                                      "Sec-WebSocket-Accept does not match the key sent");
        } else if (header_is(line, name_len, "sec-websocket-extensions") && value_len) {
            quote_text(quoted, sizeof quoted, value, value_len);
            snprintf(message, sizeof message,
                     "the server chose extension \"%s\", and none was offered", quoted);
            return handshake_fail(errstr, errstr_size, message);
        } else if (header_is(line, name_len, "sec-websocket-protocol") && value_len) {
            quote_text(quoted, sizeof quoted, value, value_len);
            snprintf(message, sizeof message,
                     "the server chose subprotocol \"%s\", and none was offered", quoted);
            return handshake_fail(errstr, errstr_size, message);
        }
        line = line_end + 2;
    }
    if (!upgrade_ok)
        return handshake_fail(errstr, errstr_size, "the response has no \"Upgrade: websocket\"");
    if (!connection_ok)
        return handshake_fail(errstr, errstr_size, "the response has no \"Connection: Upgrade\"");
    if (!accept_ok)
        return handshake_fail(errstr, errstr_size, "the response has no Sec-WebSocket-Accept");
    return WS_HANDSHAKE_DONE;
}

enum ws_handshake_result ws_handshake_feed(struct ws_handshake *hs, const char *data, size_t len,
                                           size_t *consumed, char *errstr, size_t errstr_size)
{
    size_t before = hs->head.len;
    size_t take = len;
    if (take > WS_HANDSHAKE_HEAD_MAX - before)
        take = WS_HANDSHAKE_HEAD_MAX - before;
    strbuf_append_len(&hs->head, data, take);

    /* The blank line may straddle two reads. */
    const char *head = hs->head.data;
    size_t from = before >= 3 ? before - 3 : 0;
    for (size_t i = from; i + 4 <= hs->head.len; i++) {
        if (head[i] == '\r' && head[i + 1] == '\n' && head[i + 2] == '\r' && head[i + 3] == '\n') {
            size_t head_len = i + 4;
            *consumed = head_len - before;
            hs->head.data[head_len] = '\0';
            return check_head(hs, hs->head.data, head_len, errstr, errstr_size);
        }
    }
    *consumed = take;
    if (hs->head.len >= WS_HANDSHAKE_HEAD_MAX) {
        char message[96];
        snprintf(message, sizeof message, "the response head is larger than %d bytes",
                 WS_HANDSHAKE_HEAD_MAX);
        return handshake_fail(errstr, errstr_size, message);
    }
    return WS_HANDSHAKE_MORE;
}

/* ---- frames ---- */

void ws_reader_init(struct ws_reader *reader)
{
    memset(reader, 0, sizeof *reader);
    reader->header_need = 2;
}

static enum ws_read_result read_error(char *errstr, size_t errstr_size, const char *what)
{
    snprintf(errstr, errstr_size, "websocket protocol error: %s", what);
    return WS_READ_ERROR;
}

static int is_control(enum ws_opcode opcode)
{
    return (opcode & 0x8) != 0;
}

/* The first two bytes say what the frame is and how long its header is. */
static enum ws_read_result check_start(struct ws_reader *r, char *errstr, size_t errstr_size)
{
    unsigned char b0 = r->header[0], b1 = r->header[1];
    char what[96];
    if (b0 & 0x70) {
        snprintf(what, sizeof what, "reserved bits 0x%02x set, and no extension was negotiated",
                 b0 & 0x70);
        return read_error(errstr, errstr_size, what);
    }
    if (b1 & 0x80)
        return read_error(errstr, errstr_size, "the server masked a frame");
    r->fin = (b0 & 0x80) != 0;
    r->opcode = (enum ws_opcode)(b0 & 0x0f);
    unsigned len7 = b1 & 0x7f;
    switch (r->opcode) {
    case WS_OP_CONTINUATION:
        if (!r->in_message)
            return read_error(errstr, errstr_size, "a continuation frame outside a message");
        break;
    case WS_OP_TEXT:
    case WS_OP_BINARY:
        if (r->in_message)
            return read_error(errstr, errstr_size,
                              "a new message began before the previous one ended");
        break;
    case WS_OP_CLOSE:
    case WS_OP_PING:
    case WS_OP_PONG:
        if (!r->fin)
            return read_error(errstr, errstr_size, "a fragmented control frame");
        if (len7 > WS_CONTROL_MAX)
            return read_error(errstr, errstr_size, "a control frame longer than 125 bytes");
        break;
    default:
        snprintf(what, sizeof what, "unknown opcode 0x%x", (unsigned)r->opcode);
        return read_error(errstr, errstr_size, what);
    }
    r->header_need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
    return WS_READ_OK;
}

static enum ws_read_result begin_payload(struct ws_reader *r, char *errstr, size_t errstr_size)
{
    unsigned len7 = r->header[1] & 0x7f;
    uint64_t length = len7;
    if (len7 == 126) {
        length = ((uint64_t)r->header[2] << 8) | r->header[3];
    } else if (len7 == 127) {
        if (r->header[2] & 0x80)
            return read_error(errstr, errstr_size, "a frame length with the top bit set");
        length = 0;
        for (int i = 2; i < 10; i++)
            length = (length << 8) | r->header[i];
    }
    r->remaining = length;
    r->in_payload = 1;
    r->control_len = 0;
    if (!is_control(r->opcode))
        r->in_message = 1;
    r->header_len = 0;
    r->header_need = 2;
    return WS_READ_OK;
}

/* The frame's payload is complete: hand over what has not been handed over yet. */
static enum ws_read_result end_frame(struct ws_reader *r, int payload_was_empty,
                                     const struct ws_reader_events *events, void *ctx,
                                     char *errstr, size_t errstr_size)
{
    r->in_payload = 0;
    if (is_control(r->opcode)) {
        if (r->opcode == WS_OP_CLOSE && r->control_len == 1)
            return read_error(errstr, errstr_size, "a close frame with a one-byte body");
        if (events->on_control &&
            events->on_control(ctx, r->opcode, r->control, r->control_len) != 0)
            return WS_READ_STOPPED;
        return WS_READ_OK;
    }
    if (r->fin) {
        r->in_message = 0;
        if (payload_was_empty && events->on_data && events->on_data(ctx, "", 0, 1) != 0)
            return WS_READ_STOPPED;
    }
    return WS_READ_OK;
}

enum ws_read_result ws_reader_feed(struct ws_reader *r, const unsigned char *data, size_t len,
                                   const struct ws_reader_events *events, void *ctx, char *errstr,
                                   size_t errstr_size)
{
    size_t pos = 0;
    enum ws_read_result rc;
    while (pos < len) {
        if (!r->in_payload) {
            size_t n = r->header_need - r->header_len;
            if (n > len - pos)
                n = len - pos;
            memcpy(r->header + r->header_len, data + pos, n);
            r->header_len += n;
            pos += n;
            if (r->header_len < r->header_need)
                break;
            if (r->header_len == 2) {
                rc = check_start(r, errstr, errstr_size);
                if (rc != WS_READ_OK)
                    return rc;
                if (r->header_need > 2)
                    continue;
            }
            rc = begin_payload(r, errstr, errstr_size);
            if (rc != WS_READ_OK)
                return rc;
            if (r->remaining == 0) {
                rc = end_frame(r, 1, events, ctx, errstr, errstr_size);
                if (rc != WS_READ_OK)
                    return rc;
            }
            continue;
        }

        size_t n = len - pos;
        if ((uint64_t)n > r->remaining)
            n = (size_t)r->remaining;
        r->remaining -= n;
        if (is_control(r->opcode)) {
            memcpy(r->control + r->control_len, data + pos, n);
            r->control_len += n;
        } else if (events->on_data) {
            int final = r->fin && r->remaining == 0;
            if (events->on_data(ctx, (const char *)data + pos, n, final) != 0)
                return WS_READ_STOPPED;
        }
        pos += n;
        if (r->remaining == 0) {
            rc = end_frame(r, 0, events, ctx, errstr, errstr_size);
            if (rc != WS_READ_OK)
                return rc;
        }
    }
    return WS_READ_OK;
}

void ws_frame_write(struct strbuf *out, enum ws_opcode opcode, const void *payload, size_t len,
                    const unsigned char mask[4])
{
    unsigned char header[14];
    size_t header_len = 0;
    header[header_len++] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        header[header_len++] = (unsigned char)(0x80 | len);
    } else if (len <= 0xffff) {
        header[header_len++] = 0x80 | 126;
        header[header_len++] = (unsigned char)(len >> 8);
        header[header_len++] = (unsigned char)len;
    } else {
        header[header_len++] = 0x80 | 127;
        for (int shift = 56; shift >= 0; shift -= 8)
            header[header_len++] = (unsigned char)((uint64_t)len >> shift);
    }
    memcpy(header + header_len, mask, 4);
    header_len += 4;
    strbuf_append_len(out, header, header_len);

    strbuf_reserve(out, len);
    const unsigned char *in = payload;
    unsigned char *dst = (unsigned char *)out->data + out->len;
    for (size_t i = 0; i < len; i++)
        dst[i] = in[i] ^ mask[i & 3];
    out->len += len;
    out->data[out->len] = '\0';
}
