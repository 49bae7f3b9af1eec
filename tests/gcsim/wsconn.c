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

int wsconn_on_writeable(struct wsconn *conn)
{
    if (conn->dropped)
        return -1;
    for (int i = 0; i < WSCONN_WRITES_PER_CALLBACK && conn->head; i++) {
        if (lws_send_pipe_choked(conn->wsi))
            break;
        int r = write_fragment(conn, conn->head);
        if (r < 0)
            return -1;
        if (r == 0)
            pop_frame(conn);
        else
            break; /* one fragment per callback so fragments reach the peer separately */
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
    conn->queued_bytes = 0;
    conn->queued_frames = 0;
}
