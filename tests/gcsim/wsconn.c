#include "tests/gcsim/wsconn.h"

#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct wsconn_frame {
    struct wsconn_frame *next;
    size_t len;
    int fragments;
    int fragments_sent;
    unsigned char buf[]; /* LWS_PRE bytes of headroom, then the text */
};

/* Enough to keep a fast reader busy without one slow reader growing without bound. */
#define WSCONN_WRITES_PER_CALLBACK 64
/* Whole frames written with one send: at load rates one send per frame cost the
 * simulator more than building the frames did. */
#define WSCONN_COALESCE_BYTES (64 * 1024)

void wsconn_init(struct wsconn *conn, struct lws *wsi)
{
    memset(conn, 0, sizeof(*conn));
    conn->wsi = wsi;
}

void wsconn_enqueue(struct wsconn *conn, const char *text, size_t len, int fragments)
{
    if (conn->dropped || conn->close_code)
        return;
    struct wsconn_frame *f = malloc(sizeof(*f) + LWS_PRE + len);
    if (!f)
        abort();
    f->next = NULL;
    f->len = len;
    f->fragments = fragments < 1 ? 1 : fragments;
    if ((size_t)f->fragments > len)
        f->fragments = len ? (int)len : 1;
    f->fragments_sent = 0;
    memcpy(f->buf + LWS_PRE, text, len);
    if (conn->tail)
        conn->tail->next = f;
    else
        conn->head = f;
    conn->tail = f;
    conn->queued_bytes += len;
    conn->queued_frames++;
    lws_callback_on_writable(conn->wsi);
}

void wsconn_close_after_queue(struct wsconn *conn, int code)
{
    if (conn->close_code || conn->dropped)
        return;
    conn->close_code = code;
    lws_callback_on_writable(conn->wsi);
}

void wsconn_drop(struct wsconn *conn)
{
    if (conn->dropped)
        return;
    conn->dropped = 1;
    /* Linger 0 makes the kernel reset the connection: the peer sees no close frame. */
    int fd = (int)lws_get_socket_fd(conn->wsi);
    if (fd >= 0) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        shutdown(fd, SHUT_RDWR);
    }
    lws_set_timeout(conn->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
}

static void pop_frame(struct wsconn *conn)
{
    struct wsconn_frame *f = conn->head;
    conn->head = f->next;
    if (!conn->head)
        conn->tail = NULL;
    conn->queued_bytes -= f->len;
    conn->queued_frames--;
    conn->frames_sent++;
    free(f);
}

/* Writes the next fragment of f; returns 0 when f is complete, 1 if more remain, -1 on error. */
static int write_fragment(struct wsconn *conn, struct wsconn_frame *f)
{
    if (f->fragments == 1) {
        int n = lws_write(conn->wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT);
        return n < (int)f->len ? -1 : 0;
    }
    size_t piece = f->len / (size_t)f->fragments;
    size_t start = piece * (size_t)f->fragments_sent;
    int last = f->fragments_sent == f->fragments - 1;
    size_t len = last ? f->len - start : piece;
    int flags = f->fragments_sent == 0 ? LWS_WRITE_TEXT : LWS_WRITE_CONTINUATION;
    if (!last)
        flags |= LWS_WRITE_NO_FIN;
    /* Each fragment needs its own headroom: lws writes the header just before it. */
    unsigned char *tmp = malloc(LWS_PRE + len);
    if (!tmp)
        abort();
    memcpy(tmp + LWS_PRE, f->buf + LWS_PRE + start, len);
    int n = lws_write(conn->wsi, tmp + LWS_PRE, len, (enum lws_write_protocol)flags);
    free(tmp);
    if (n < (int)len)
        return -1;
    f->fragments_sent++;
    return last ? 0 : 1;
}

/* RFC 6455 server-to-client header of an unmasked, final text frame; returns its size. */
static size_t text_frame_header(unsigned char *out, size_t len)
{
    out[0] = 0x81;
    if (len < 126) {
        out[1] = (unsigned char)len;
        return 2;
    }
    if (len <= 0xffff) {
        out[1] = 126;
        out[2] = (unsigned char)(len >> 8);
        out[3] = (unsigned char)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    return 10;
}

/*
 * Writes the run of unfragmented frames at the head of the queue, framed here, with one
 * send of at most WSCONN_COALESCE_BYTES (or just the first frame when it is larger).
 * lws keeps whatever the kernel did not take and reports the pipe choked until it is out.
 * Returns the number of frames written, or -1 on error.
 */
static int write_coalesced(struct wsconn *conn)
{
    size_t total = 0;
    int frames = 0;
    for (const struct wsconn_frame *f = conn->head; f && f->fragments == 1; f = f->next) {
        size_t size = f->len + 10;
        if (frames && total + size > WSCONN_COALESCE_BYTES)
            break;
        total += size;
        frames++;
    }
    if (total > conn->batch_cap) {
        unsigned char *grown = realloc(conn->batch, LWS_PRE + total);
        if (!grown)
            abort();
        conn->batch = grown;
        conn->batch_cap = total;
    }
    unsigned char *out = conn->batch + LWS_PRE;
    size_t used = 0;
    for (int i = 0; i < frames; i++) {
        struct wsconn_frame *f = conn->head;
        used += text_frame_header(out + used, f->len);
        memcpy(out + used, f->buf + LWS_PRE, f->len);
        used += f->len;
        pop_frame(conn);
    }
    int n = lws_write(conn->wsi, out, used, LWS_WRITE_RAW);
    return n < (int)used ? -1 : frames;
}

int wsconn_on_writeable(struct wsconn *conn)
{
    if (conn->dropped)
        return -1;
    int written = 0;
    while (conn->head && written < WSCONN_WRITES_PER_CALLBACK) {
        if (lws_send_pipe_choked(conn->wsi))
            break;
        if (conn->head->fragments == 1) {
            int n = write_coalesced(conn);
            if (n < 0)
                return -1;
            written += n;
            continue;
        }
        int r = write_fragment(conn, conn->head);
        if (r < 0)
            return -1;
        if (r > 0)
            break; /* one fragment per callback so fragments reach the peer separately */
        pop_frame(conn);
        written++;
    }
    if (conn->head) {
        lws_callback_on_writable(conn->wsi);
        return 0;
    }
    if (conn->close_code) {
        lws_close_reason(conn->wsi, (enum lws_close_status)conn->close_code, NULL, 0);
        return -1;
    }
    return 0;
}

void wsconn_release(struct wsconn *conn)
{
    while (conn->head) {
        struct wsconn_frame *f = conn->head;
        conn->head = f->next;
        free(f);
    }
    conn->tail = NULL;
    free(conn->batch);
    conn->batch = NULL;
    conn->batch_cap = 0;
    conn->queued_bytes = 0;
    conn->queued_frames = 0;
}
