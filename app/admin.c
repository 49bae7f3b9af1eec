#include "app/admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

#define COMPONENT "admin"
#define WRITE_CHUNK 16384
#define DEFAULT_TYPE "text/plain; charset=utf-8"

struct admin_server {
    struct lws_vhost *vhost;
    char *host;
    char *token;
    const struct admin_route *routes;
    size_t route_count;
    void *opaque;
    int port;
};

struct admin_session {
    struct admin_response response;
    struct strbuf request_body;
    char *pending_uri;      /* a POST waiting for its body */
    bool body_too_large;
    size_t sent;
    bool responding;
    bool headers_sent;
    bool head;
    bool close_after;
    bool allow_post;
};

bool admin_token_matches(const char *expected, const char *presented)
{
    size_t expected_len = strlen(expected);
    size_t presented_len = strlen(presented);
    unsigned char diff = expected_len != presented_len;
    for (size_t i = 0; i < expected_len; i++)
        diff |= (unsigned char)(expected[i] ^ (i < presented_len ? presented[i] : 0));
    return diff == 0;
}

static void session_reset(struct admin_session *s)
{
    strbuf_free(&s->response.body);
    strbuf_free(&s->request_body);
    free(s->pending_uri);
    memset(s, 0, sizeof *s);
}

static bool authorized(const struct admin_server *server, struct lws *wsi)
{
    if (!server->token)
        return true;
    char header[1024];
    if (lws_hdr_copy(wsi, header, sizeof header, WSI_TOKEN_HTTP_AUTHORIZATION) <= 0)
        return false;
    static const char scheme[] = "Bearer ";
    if (strncasecmp(header, scheme, sizeof scheme - 1) != 0)
        return false;
    const char *presented = header + sizeof scheme - 1;
    while (*presented == ' ')
        presented++;
    return admin_token_matches(server->token, presented);
}

/* The route for the path and method; else any route for the path (the caller answers
 * 405); else NULL. */
static const struct admin_route *find_route(const struct admin_server *server, const char *path,
                                            bool post)
{
    const struct admin_route *other_method = NULL;
    for (size_t i = 0; i < server->route_count; i++) {
        const struct admin_route *route = &server->routes[i];
        bool match = route->prefix ? strncmp(path, route->path, strlen(route->path)) == 0
                                   : strcmp(path, route->path) == 0;
        if (!match)
            continue;
        if (route->post == post)
            return route;
        if (!other_method)
            other_method = route;
    }
    return other_method;
}

static void respond_text(struct admin_session *s, int status, const char *text)
{
    s->response.status = status;
    s->response.content_type = DEFAULT_TYPE;
    strbuf_reset(&s->response.body);
    strbuf_append(&s->response.body, text);
}

static void handle_request(struct admin_server *server, struct lws *wsi,
                           struct admin_session *s, const char *uri)
{
    session_reset(s);
    s->responding = true;
    s->response.status = 200;
    s->response.content_type = DEFAULT_TYPE;
    bool get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
    bool post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
    s->head = lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0;
    if (!get && !s->head && !post) {
        respond_text(s, 405, "method not allowed: the admin endpoints answer GET, HEAD and, "
                             "for commands, POST\n");
        s->close_after = true; /* a request body may follow; do not parse it */
        return;
    }
    const struct admin_route *route = find_route(server, uri, post);
    if (!route) {
        respond_text(s, 404, "not found; try /healthz, /readyz, /metrics, /v1/campaigns\n");
        if (post)
            s->close_after = true;
        return;
    }
    if (route->post != post) {
        respond_text(s, 405, route->post ? "method not allowed: this endpoint takes POST\n"
                                         : "method not allowed: this endpoint answers GET "
                                           "and HEAD\n");
        s->allow_post = route->post;
        if (post)
            s->close_after = true;
        return;
    }
    if (!route->public_route && !authorized(server, wsi)) {
        respond_text(s, 401, "unauthorized: send Authorization: Bearer <admin.bearer_token>\n");
        if (post)
            s->close_after = true;
        return;
    }
    if (post) {
        char length[32] = "";
        lws_hdr_copy(wsi, length, sizeof length, WSI_TOKEN_HTTP_CONTENT_LENGTH);
        long declared = atol(length);
        if (declared > ADMIN_MAX_BODY) {
            respond_text(s, 413, "request body too large\n");
            s->close_after = true;
            return;
        }
        if (declared > 0) {
            /* The handler runs when the body is complete. */
            s->responding = false;
            s->pending_uri = strdup(uri);
            if (!s->pending_uri)
                abort();
            return;
        }
    }
    struct admin_request request = {.path = uri, .head = s->head, .post = post, .body = ""};
    route->handler(server->opaque, &request, &s->response);
}

static void handle_body_complete(struct admin_server *server, struct admin_session *s)
{
    s->responding = true;
    if (s->body_too_large) {
        respond_text(s, 413, "request body too large\n");
        s->close_after = true;
        return;
    }
    const struct admin_route *route = find_route(server, s->pending_uri, true);
    struct admin_request request = {
        .path = s->pending_uri,
        .post = true,
        .body = strbuf_cstr(&s->request_body),
        .body_len = s->request_body.len,
    };
    route->handler(server->opaque, &request, &s->response);
}

static void log_request(struct lws *wsi, const struct admin_session *s, const char *uri)
{
    const char *method = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI)    ? "GET"
                         : lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) ? "HEAD"
                         : lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) ? "POST"
                                                                          : "other";
    log_debug(COMPONENT, "%s %s -> %d (%zu bytes)", method, uri, s->response.status,
              s->response.body.len);
}

/* Returns -1 to close the connection. */
static int write_response(struct lws *wsi, struct admin_session *s)
{
    if (!s->responding)
        return 0;
    if (!s->headers_sent) {
        unsigned char buf[LWS_PRE + 1024];
        unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - 1;
        size_t len = s->response.body.len;
        int status = s->response.status;
        if (lws_add_http_common_headers(wsi, (unsigned)status, s->response.content_type, len,
                                        &p, end) ||
            lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                        (const unsigned char *)"no-store", 8, &p, end))
            return -1;
        if (status == 401 &&
            lws_add_http_header_by_name(wsi, (const unsigned char *)"www-authenticate:",
                                        (const unsigned char *)"Bearer", 6, &p, end))
            return -1;
        const char *allow = s->allow_post ? "POST" : "GET, HEAD";
        if (status == 405 &&
            lws_add_http_header_by_name(wsi, (const unsigned char *)"allow:",
                                        (const unsigned char *)allow, (int)strlen(allow), &p,
                                        end))
            return -1;
        if (lws_finalize_write_http_header(wsi, start, &p, end))
            return -1;
        s->headers_sent = true;
        if (len > 0 && !s->head) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    } else {
        size_t left = s->response.body.len - s->sent;
        size_t n = left > WRITE_CHUNK ? WRITE_CHUNK : left;
        unsigned char *chunk = malloc(LWS_PRE + n);
        if (!chunk)
            abort();
        memcpy(chunk + LWS_PRE, s->response.body.data + s->sent, n);
        int written = lws_write(wsi, chunk + LWS_PRE, n,
                                n == left ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP);
        free(chunk);
        if (written < (int)n)
            return -1;
        s->sent += n;
        if (s->sent < s->response.body.len) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    }
    bool close_after = s->close_after;
    session_reset(s);
    if (close_after)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int callback_admin(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                          void *in, size_t len)
{
    struct admin_session *s = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP: {
        struct admin_server *server = lws_vhost_user(lws_get_vhost(wsi));
        const char *uri = in ? (const char *)in : "/";
        handle_request(server, wsi, s, uri);
        if (s->responding) {
            log_request(wsi, s, uri);
            lws_callback_on_writable(wsi);
        }
        return 0;
    }
    case LWS_CALLBACK_HTTP_BODY:
        if (s && s->pending_uri) {
            if (s->request_body.len + len > ADMIN_MAX_BODY)
                s->body_too_large = true;
            else
                strbuf_append_len(&s->request_body, in, len);
        }
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (s && s->pending_uri) {
            struct admin_server *server = lws_vhost_user(lws_get_vhost(wsi));
            handle_body_complete(server, s);
            log_request(wsi, s, s->pending_uri);
            lws_callback_on_writable(wsi);
        }
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return write_response(wsi, s);
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return 1; /* no WebSocket upgrades on the admin port */
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (s)
            session_reset(s);
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols admin_protocols[] = {
    {"campaign-relay-admin", callback_admin, sizeof(struct admin_session), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

struct admin_server *admin_server_create(const struct admin_options *options, char *errstr,
                                         size_t errstr_size)
{
    struct admin_server *server = calloc(1, sizeof *server);
    if (!server)
        abort();
    server->host = strdup(options->host ? options->host : "127.0.0.1");
    if (!server->host)
        abort();
    if (options->bearer_token && options->bearer_token[0]) {
        server->token = strdup(options->bearer_token);
        if (!server->token)
            abort();
    }
    server->routes = options->routes;
    server->route_count = options->route_count;
    server->opaque = options->opaque;

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.vhost_name = "admin";
    info.iface = server->host;
    info.port = options->port;
    info.protocols = admin_protocols;
    info.user = server;
    info.keepalive_timeout = 30;
    if (!strchr(server->host, ':'))
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    server->vhost = lws_create_vhost(options->context, &info);
    server->port = server->vhost ? lws_get_vhost_listen_port(server->vhost) : -1;
    if (!server->vhost || server->port <= 0) {
        snprintf(errstr, errstr_size,
                 "admin.listen: cannot listen on %s port %d (address in use or not local?)",
                 server->host, options->port);
        if (server->vhost)
            lws_vhost_destroy(server->vhost);
        admin_server_destroy(server);
        return NULL;
    }
    return server;
}

int admin_server_port(const struct admin_server *server)
{
    return server->port;
}

void admin_server_destroy(struct admin_server *server)
{
    if (!server)
        return;
    free(server->host);
    free(server->token);
    free(server);
}
