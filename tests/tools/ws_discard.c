/*
 * ws_discard: connects to a notification channel URI, counts and discards every message,
 * and at the end prints one line for the benchmark:
 *
 *   ws_discard: N frames B bytes in S s (R/s)
 *
 *   ws_discard URI [--seconds S] [--idle-ms MS]
 *
 * It stops after --seconds (default 10), when the server closes, or when no message came
 * for --idle-ms once messages had started (default 0: never). The rate is messages over
 * the time from the first to the last message.
 */
#include <libwebsockets.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct discard {
    struct lws_context *context;
    uint64_t messages, bytes;
    lws_usec_t first_us, last_us;
    long idle_ms;
    int done;
    int exit_code;
    lws_sorted_usec_list_t deadline_sul, idle_sul;
};

static struct discard d;

static void on_deadline(lws_sorted_usec_list_t *sul)
{
    d.done = 1;
    lws_cancel_service(d.context);
}

static void on_idle_check(lws_sorted_usec_list_t *sul)
{
    if (d.messages && lws_now_usecs() - d.last_us > (lws_usec_t)d.idle_ms * LWS_US_PER_MS) {
        d.done = 1;
        lws_cancel_service(d.context);
        return;
    }
    lws_sul_schedule(d.context, 0, &d.idle_sul, on_idle_check, 100 * LWS_US_PER_MS);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    switch (reason) {
    case LWS_CALLBACK_CLIENT_RECEIVE:
        d.bytes += len;
        if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
            d.last_us = lws_now_usecs();
            if (!d.messages++)
                d.first_us = d.last_us;
        }
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        fprintf(stderr, "ws_discard: connection failed: %s\n", in ? (char *)in : "(no reason)");
        d.exit_code = 2;
        /* fallthrough */
    case LWS_CALLBACK_CLIENT_CLOSED:
        d.done = 1;
        lws_cancel_service(d.context);
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols protocols[] = {
    {"ws-discard", callback, 0, 1 << 16, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void on_signal(int sig)
{
    d.done = 1;
    if (d.context)
        lws_cancel_service(d.context);
}

int main(int argc, char **argv)
{
    struct lws_context_creation_info info;
    struct lws_client_connect_info cc;
    const char *scheme, *address, *path;
    char uri[1024], full_path[1024];
    long seconds = 10;
    int port;

    if (argc < 2 || !strcmp(argv[1], "--help")) {
        fprintf(stderr, "usage: ws_discard URI [--seconds S] [--idle-ms MS]\n");
        return 1;
    }
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--seconds"))
            seconds = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--idle-ms"))
            d.idle_ms = atol(argv[i + 1]);
        else {
            fprintf(stderr, "ws_discard: unknown option %s\n", argv[i]);
            return 1;
        }
    }
    snprintf(uri, sizeof(uri), "%s", argv[1]);
    if (lws_parse_uri(uri, &scheme, &address, &port, &path)) {
        fprintf(stderr, "ws_discard: cannot parse URI %s\n", argv[1]);
        return 1;
    }
    snprintf(full_path, sizeof(full_path), "/%s", path);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    lws_set_log_level(LLL_ERR, NULL);

    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    d.context = lws_create_context(&info);
    if (!d.context)
        return 1;
    memset(&cc, 0, sizeof(cc));
    cc.context = d.context;
    cc.address = address;
    cc.port = port;
    cc.path = full_path;
    cc.host = address;
    cc.origin = address;
    cc.ssl_connection = !strcmp(scheme, "wss") ? LCCSCF_USE_SSL : 0;
    if (!lws_client_connect_via_info(&cc)) {
        lws_context_destroy(d.context);
        return 2;
    }
    lws_sul_schedule(d.context, 0, &d.deadline_sul, on_deadline,
                     (lws_usec_t)seconds * LWS_US_PER_SEC);
    if (d.idle_ms > 0)
        lws_sul_schedule(d.context, 0, &d.idle_sul, on_idle_check, 100 * LWS_US_PER_MS);
    while (!d.done)
        if (lws_service(d.context, 0) < 0)
            break;
    lws_context_destroy(d.context);
    double secs = d.messages > 1 ? (double)(d.last_us - d.first_us) / 1e6 : 0.0;
    printf("ws_discard: %llu frames %llu bytes in %.2f s (%.0f/s)\n",
           (unsigned long long)d.messages, (unsigned long long)d.bytes, secs,
           secs > 0 ? (double)d.messages / secs : 0.0);
    return d.exit_code;
}
