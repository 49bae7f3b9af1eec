/*
 * ws_tap: connects to a notification channel URI and prints every text message received
 * as one line on stdout, for tests of the simulator and the relay.
 *
 *   ws_tap ws://127.0.0.1:PORT/channels/ID [--ping-ms MS] [--seconds S] [--max N]
 *
 * Fragmented messages are reassembled; before such a message a line "#fragments N" says
 * how many fragments it came in. When the connection ends it prints "#closed code=C" if
 * the server sent a close frame, or "#closed noframe" if the connection just went away.
 * --ping-ms sends {"message":"ping"} at that interval. Exit status: 0 after a close or
 * the time/limit, 2 when it could not connect, 1 on bad arguments.
 */
#include <libwebsockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tap {
    struct lws_context *context;
    struct lws *wsi;
    char *msg;
    size_t len, cap;
    int fragments;
    long ping_ms;
    long max_messages;
    long messages;
    int close_code; /* -1: no close frame seen */
    int want_ping;
    int done;
    int exit_code;
    lws_sorted_usec_list_t ping_sul, deadline_sul;
};

static struct tap tap = {.close_code = -1};

static void on_ping_timer(lws_sorted_usec_list_t *sul)
{
    if (tap.wsi) {
        tap.want_ping = 1;
        lws_callback_on_writable(tap.wsi);
    }
    lws_sul_schedule(tap.context, 0, &tap.ping_sul, on_ping_timer,
                     (lws_usec_t)tap.ping_ms * LWS_US_PER_MS);
}

static void on_deadline(lws_sorted_usec_list_t *sul)
{
    tap.done = 1;
    lws_cancel_service(tap.context);
}

static void append(const void *in, size_t len)
{
    if (tap.len + len + 1 > tap.cap) {
        tap.cap = (tap.len + len + 1) * 2;
        tap.msg = realloc(tap.msg, tap.cap);
        if (!tap.msg)
            abort();
    }
    memcpy(tap.msg + tap.len, in, len);
    tap.len += len;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        tap.wsi = wsi;
        printf("#connected\n");
        fflush(stdout);
        if (tap.ping_ms > 0)
            lws_sul_schedule(tap.context, 0, &tap.ping_sul, on_ping_timer,
                             (lws_usec_t)tap.ping_ms * LWS_US_PER_MS);
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (lws_is_first_fragment(wsi))
            tap.fragments = 0;
        if (lws_remaining_packet_payload(wsi) == 0)
            tap.fragments++;
        append(in, len);
        if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
            if (tap.fragments > 1)
                printf("#fragments %d\n", tap.fragments);
            fwrite(tap.msg, 1, tap.len, stdout);
            fputc('\n', stdout);
            fflush(stdout);
            tap.len = 0;
            tap.fragments = 0;
            if (tap.max_messages && ++tap.messages >= tap.max_messages) {
                tap.done = 1;
                lws_cancel_service(tap.context);
            }
        }
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (tap.want_ping) {
            unsigned char buf[LWS_PRE + 32];
            static const char ping[] = "{\"message\":\"ping\"}";
            tap.want_ping = 0;
            memcpy(buf + LWS_PRE, ping, sizeof(ping) - 1);
            if (lws_write(wsi, buf + LWS_PRE, sizeof(ping) - 1, LWS_WRITE_TEXT) < 0)
                return -1;
        }
        break;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        tap.close_code = len >= 2 ? (((unsigned char *)in)[0] << 8) | ((unsigned char *)in)[1]
                                  : 1005;
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        fprintf(stderr, "ws_tap: connection failed: %s\n", in ? (char *)in : "(no reason)");
        tap.exit_code = 2;
        tap.done = 1;
        lws_cancel_service(tap.context);
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (tap.close_code >= 0)
            printf("#closed code=%d\n", tap.close_code);
        else
            printf("#closed noframe\n");
        fflush(stdout);
        tap.wsi = NULL;
        tap.done = 1;
        lws_cancel_service(tap.context);
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols protocols[] = {
    {"ws-tap", callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void on_signal(int sig)
{
    tap.done = 1;
    if (tap.context)
        lws_cancel_service(tap.context);
}

int main(int argc, char **argv)
{
    struct lws_context_creation_info info;
    struct lws_client_connect_info cc;
    const char *scheme, *address, *path;
    char uri[1024], full_path[1024];
    long seconds = 0;
    int port;

    if (argc < 2 || !strcmp(argv[1], "--help")) {
        fprintf(stderr, "usage: ws_tap URI [--ping-ms MS] [--seconds S] [--max N]\n");
        return 1;
    }
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--ping-ms"))
            tap.ping_ms = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds"))
            seconds = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--max"))
            tap.max_messages = atol(argv[i + 1]);
        else {
            fprintf(stderr, "ws_tap: unknown option %s\n", argv[i]);
            return 1;
        }
    }
    snprintf(uri, sizeof(uri), "%s", argv[1]);
    if (lws_parse_uri(uri, &scheme, &address, &port, &path)) {
        fprintf(stderr, "ws_tap: cannot parse URI %s\n", argv[1]);
        return 1;
    }
    snprintf(full_path, sizeof(full_path), "/%s", path);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    lws_set_log_level(LLL_ERR, NULL);

    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    tap.context = lws_create_context(&info);
    if (!tap.context) {
        fprintf(stderr, "ws_tap: cannot create context\n");
        return 1;
    }
    memset(&cc, 0, sizeof(cc));
    cc.context = tap.context;
    cc.address = address;
    cc.port = port;
    cc.path = full_path;
    cc.host = address;
    cc.origin = address;
    cc.ssl_connection = !strcmp(scheme, "wss") ? LCCSCF_USE_SSL : 0;
    if (!lws_client_connect_via_info(&cc)) {
        fprintf(stderr, "ws_tap: cannot start connecting to %s\n", argv[1]);
        lws_context_destroy(tap.context);
        return 2;
    }
    if (seconds > 0)
        lws_sul_schedule(tap.context, 0, &tap.deadline_sul, on_deadline,
                         (lws_usec_t)seconds * LWS_US_PER_SEC);
    while (!tap.done)
        if (lws_service(tap.context, 0) < 0)
            break;
    lws_context_destroy(tap.context);
    free(tap.msg);
    return tap.exit_code;
}
