#include "tests/gcsim/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/gcsim/behaviour.h"
#include "tests/gcsim/http.h"
#include "tests/gcsim/load.h"
#include "tests/gcsim/scenario.h"
#include "tests/gcsim/stream.h"
#include "tests/gcsim/wsconn.h"
#include "util/log.h"
#include "util/timeutil.h"

#define TICK_US 10000
#define LOAD_TICK_US 2000
#define HTTP_CHUNK 16384
#define MAX_BODY (16u << 20)

struct session {
    int is_ws;
    struct wsconn ws;
    char channel_id[CHANNEL_ID_MAX];
    struct strbuf rx;
    struct http_request req;
    struct http_response resp;
    int responding;
    int headers_sent;
    size_t body_sent;
    int body_too_large;
};

static struct gcsim *sim_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

static void http_reset(struct session *s)
{
    strbuf_free(&s->req.query);
    strbuf_free(&s->req.body);
    strbuf_free(&s->resp.body);
    memset(&s->req, 0, sizeof(s->req));
    memset(&s->resp, 0, sizeof(s->resp));
    s->responding = s->headers_sent = s->body_too_large = 0;
    s->body_sent = 0;
}

static enum http_method method_of(struct lws *wsi)
{
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI))
        return HTTP_GET;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI))
        return HTTP_POST;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_PUT_URI))
        return HTTP_PUT;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_DELETE_URI))
        return HTTP_DELETE;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI))
        return HTTP_HEAD;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_PATCH_URI))
        return HTTP_PATCH;
    return HTTP_OTHER;
}

static void collect_request(struct lws *wsi, struct session *s, const char *uri)
{
    char frag[1024];
    s->req.method = method_of(wsi);
    snprintf(s->req.path, sizeof(s->req.path), "%s", uri ? uri : "/");
    for (int i = 0; lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i) > 0;
         i++) {
        if (s->req.query.len)
            strbuf_append_char(&s->req.query, '&');
        strbuf_append(&s->req.query, frag);
    }
    if (lws_hdr_copy(wsi, s->req.authorization, sizeof(s->req.authorization),
                     WSI_TOKEN_HTTP_AUTHORIZATION) < 0)
        s->req.authorization[0] = '\0';
}

static long content_length(struct lws *wsi)
{
    char buf[32];
    if (lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
        return 0;
    return atol(buf);
}

static void dispatch(struct lws *wsi, struct session *s)
{
    struct gcsim *sim = sim_of(wsi);
    if (s->responding)
        return;
    s->responding = 1;
    prng_uuid(&sim->noise, s->req.correlation_id);
    if (s->body_too_large)
        http_error(&s->resp, &s->req, 413, "payload.too.large", "Request body over %u bytes",
                   MAX_BODY);
    else
        http_route(sim, &s->req, &s->resp);
    log_debug("gcsim", "%s %s -> %d", http_method_name(s->req.method), s->req.path,
              s->resp.status);
    if (s->resp.delay_ms > 0)
        lws_set_timer_usecs(wsi, (lws_usec_t)s->resp.delay_ms * 1000);
    else
        lws_callback_on_writable(wsi);
}

/* Returns -1 to close the connection, 0 otherwise. */
static int write_response(struct lws *wsi, struct session *s)
{
    if (!s->responding)
        return 0;
    if (!s->headers_sent) {
        unsigned char buf[LWS_PRE + 2048], *start = buf + LWS_PRE, *p = start,
                      *end = buf + sizeof(buf) - 1;
        size_t len = s->req.method == HTTP_HEAD ? 0 : s->resp.body.len;
        if (lws_add_http_common_headers(wsi, (unsigned)s->resp.status,
                                        s->resp.content_type ? s->resp.content_type
                                                             : "application/json",
                                        len, &p, end) ||
            lws_add_http_header_by_name(wsi, (const unsigned char *)"inin-correlation-id:",
                                        (const unsigned char *)s->req.correlation_id,
                                        (int)strlen(s->req.correlation_id), &p, end))
            return -1;
        for (int i = 0; i < s->resp.header_count; i++)
            if (lws_add_http_header_by_name(wsi, (const unsigned char *)s->resp.header_names[i],
                                            (const unsigned char *)s->resp.header_values[i],
                                            (int)strlen(s->resp.header_values[i]), &p, end))
                return -1;
        if (lws_finalize_write_http_header(wsi, start, &p, end))
            return -1;
        s->headers_sent = 1;
        if (len) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    } else {
        size_t left = s->resp.body.len - s->body_sent;
        size_t n = left > HTTP_CHUNK ? HTTP_CHUNK : left;
        unsigned char *chunk = malloc(LWS_PRE + n);
        if (!chunk)
            abort();
        memcpy(chunk + LWS_PRE, s->resp.body.data + s->body_sent, n);
        int w = lws_write(wsi, chunk + LWS_PRE, n, n == left ? LWS_WRITE_HTTP_FINAL
                                                             : LWS_WRITE_HTTP);
        free(chunk);
        if (w < (int)n)
            return -1;
        s->body_sent += n;
        if (s->body_sent < s->resp.body.len) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    }
    http_reset(s);
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int ws_filter(struct lws *wsi, struct session *s)
{
    struct gcsim *sim = sim_of(wsi);
    char uri[256];
    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 ||
        strncmp(uri, "/channels/", 10) != 0) {
        log_info("gcsim", "websocket refused: not a /channels/ path");
        return 1;
    }
    if (strlen(uri + 10) >= sizeof(s->channel_id) || !channel_find(sim->channels, uri + 10)) {
        log_info("gcsim", "websocket refused: no channel %s", uri + 10);
        return 1;
    }
    memcpy(s->channel_id, uri + 10, strlen(uri + 10) + 1);
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct session *s = user;
    struct gcsim *sim;

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        http_reset(s);
        collect_request(wsi, s, in);
        if ((s->req.method == HTTP_POST || s->req.method == HTTP_PUT ||
             s->req.method == HTTP_PATCH) && content_length(wsi) > 0)
            return 0; /* wait for the body */
        dispatch(wsi, s);
        return 0;
    case LWS_CALLBACK_HTTP_BODY:
        if (s->req.body.len + len > MAX_BODY)
            s->body_too_large = 1;
        else
            strbuf_append_len(&s->req.body, in, len);
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        dispatch(wsi, s);
        return 0;
    case LWS_CALLBACK_TIMER:
        lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return write_response(wsi, s);
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (s && !s->is_ws)
            http_reset(s);
        return 0;

    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return ws_filter(wsi, s);
    case LWS_CALLBACK_ESTABLISHED: {
        sim = sim_of(wsi);
        http_reset(s);
        s->is_ws = 1;
        wsconn_init(&s->ws, wsi);
        strbuf_init(&s->rx);
        struct channel *ch = channel_find(sim->channels, s->channel_id);
        if (!ch)
            return -1; /* evicted between the filter and now */
        stream_attach(sim, ch, &s->ws, time_mono_ms());
        log_info("gcsim", "websocket connected to channel %s", ch->id);
        return 0;
    }
    case LWS_CALLBACK_RECEIVE:
        if (s->rx.len + len > MAX_BODY)
            return -1;
        strbuf_append_len(&s->rx, in, len);
        if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
            stream_on_text(sim_of(wsi), &s->ws, s->rx.data, s->rx.len, time_mono_ms());
            strbuf_reset(&s->rx);
        }
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return wsconn_on_writeable(&s->ws);
    case LWS_CALLBACK_CLOSED:
        if (s->is_ws) {
            stream_detach(sim_of(wsi), &s->ws);
            wsconn_release(&s->ws);
            strbuf_free(&s->rx);
            s->is_ws = 0;
        }
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"gcsim", callback, sizeof(struct session), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void tick(lws_sorted_usec_list_t *sul)
{
    struct gcsim *sim = lws_container_of(sul, struct gcsim, tick_sul);
    int64_t now = time_mono_ms();
    stream_tick(sim, now);
    behaviour_tick(sim, now);
    scenario_tick(sim, now);
    load_tick(sim, now);
    lws_sul_schedule(sim->context, 0, &sim->tick_sul, tick,
                     load_active(sim->load) ? LOAD_TICK_US : TICK_US);
}

int server_create(struct gcsim *sim, char *errstr, size_t errstr_size)
{
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    lws_set_log_level(log_get_level() >= LOG_DEBUG ? LLL_ERR | LLL_WARN | LLL_NOTICE : LLL_ERR,
                      NULL);
    info.port = sim->opts.listen_port ? sim->opts.listen_port : CONTEXT_PORT_NO_LISTEN_SERVER;
    info.iface = sim->opts.listen_host;
    info.protocols = protocols;
    info.user = sim;
    info.max_http_header_data = 4096;
    info.pt_serv_buf_size = 64 * 1024;
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
    if (!sim->opts.listen_port)
        info.port = 0;
    sim->context = lws_create_context(&info);
    if (!sim->context) {
        snprintf(errstr, errstr_size, "cannot listen on %s:%d", sim->opts.listen_host,
                 sim->opts.listen_port);
        return -1;
    }
    sim->vhost = lws_get_vhost_by_name(sim->context, "default");
    sim->port = sim->vhost ? lws_get_vhost_listen_port(sim->vhost) : -1;
    if (sim->port <= 0) {
        snprintf(errstr, errstr_size, "could not learn the listening port");
        return -1;
    }
    snprintf(sim->base_url, sizeof(sim->base_url), "http://%.60s:%d", sim->opts.listen_host,
             sim->port);
    lws_sul_schedule(sim->context, 0, &sim->tick_sul, tick, TICK_US);
    return 0;
}

void server_run(struct gcsim *sim, volatile sig_atomic_t *stop)
{
    while (!*stop)
        if (lws_service(sim->context, 0) < 0)
            break;
}

void server_destroy(struct gcsim *sim)
{
    if (!sim->context)
        return;
    lws_sul_cancel(&sim->tick_sul);
    lws_context_destroy(sim->context);
    sim->context = NULL;
}

void gcsim_on_socket_ready(struct gcsim *sim)
{
    int64_t now = time_mono_ms();
    scenario_on_socket_ready(sim, now);
    load_on_socket_ready(sim, now);
}
