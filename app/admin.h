/*
 * The admin HTTP server: a listening vhost on the relay's libwebsockets context, so it
 * is served by the same loop as the stream and reads the loop's state without locks.
 *
 * Contract:
 *  - admin_server_create() binds host:port (port 0: an ephemeral port, see
 *    admin_server_port()) and fails with errstr naming the address when it cannot.
 *  - GET and HEAD only (anything else: 405 with Allow). The path is matched against
 *    the routes in order: an exact path, or with prefix set any path starting with it.
 *    Unmatched paths answer 404.
 *  - With a bearer token configured, every route that is not public answers 401 (with
 *    WWW-Authenticate: Bearer) unless the request carries "Authorization: Bearer
 *    <token>"; the comparison takes the same time wherever the first difference is.
 *  - Handlers run on the loop thread, must not block, and fill the response; the
 *    server writes it in chunks as the socket takes them and keeps the connection
 *    alive for the next request.
 */
#ifndef CRELAY_APP_ADMIN_H
#define CRELAY_APP_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include <libwebsockets.h>

#include "util/strbuf.h"

struct admin_request {
    const char *path; /* without the query */
    bool head;
    bool post;
    const char *body; /* POST: the request body, NUL-terminated ("" when none) */
    size_t body_len;
};

struct admin_response {
    int status;               /* 200 unless the handler says otherwise */
    const char *content_type; /* static string; "text/plain; charset=utf-8" by default */
    struct strbuf body;
};

typedef void (*admin_handler_fn)(void *opaque, const struct admin_request *request,
                                 struct admin_response *response);

struct admin_route {
    const char *path;
    bool prefix;       /* match every path that starts with path */
    bool public_route; /* served without the bearer token (health probes) */
    admin_handler_fn handler;
    bool post;         /* the route takes POST (with a body of at most
                        * ADMIN_MAX_BODY bytes) instead of GET and HEAD */
};

#define ADMIN_MAX_BODY 65536

struct admin_options {
    struct lws_context *context;
    const char *host; /* "127.0.0.1", "::1", "0.0.0.0" */
    int port;         /* 0: ephemeral */
    const char *bearer_token; /* NULL or "": no authentication */
    const struct admin_route *routes; /* borrowed; must outlive the server */
    size_t route_count;
    void *opaque; /* handed to every handler */
};

struct admin_server;

struct admin_server *admin_server_create(const struct admin_options *options, char *errstr,
                                         size_t errstr_size);
/* The bound port (the ephemeral one when 0 was asked for). */
int admin_server_port(const struct admin_server *server);
/* Frees the server after lws_context_destroy(), which closes the listener and its
 * connections (lws keeps using the vhost until then). */
void admin_server_destroy(struct admin_server *server);

/* Constant-time comparison of a presented token with the expected one. */
bool admin_token_matches(const char *expected, const char *presented);

#endif
