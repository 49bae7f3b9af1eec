/*
 * HTTP requests and responses as the handlers see them, and the routing of paths.
 *
 * Contract: the server (server.c) fills a struct http_request from libwebsockets and
 * writes whatever the handler put in the struct http_response; handlers never touch lws.
 * Error helpers produce the platform's ErrorBody (§4.8) for platform paths and
 * {"error":"..."} for the /sim/ control API.
 */
#ifndef GCSIM_HTTP_H
#define GCSIM_HTTP_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/gcsim/gcsim.h"
#include "util/strbuf.h"

enum http_method { HTTP_GET, HTTP_POST, HTTP_PUT, HTTP_DELETE, HTTP_HEAD, HTTP_PATCH, HTTP_OTHER };

#define HTTP_MAX_HEADERS 4

struct http_request {
    enum http_method method;
    char path[512];
    struct strbuf query; /* "name=value&name=value", already URL-decoded per pair */
    struct strbuf body;
    char authorization[1024];
    char correlation_id[PRNG_UUID_LEN];
};

struct http_response {
    int status;
    const char *content_type;
    char header_names[HTTP_MAX_HEADERS][32];
    char header_values[HTTP_MAX_HEADERS][64];
    int header_count;
    struct strbuf body;
    int64_t delay_ms;
};

const char *http_method_name(enum http_method method);
/* Copies the first value of query parameter name into buf; NULL when absent. */
const char *http_query_get(const struct http_request *req, const char *name, char *buf,
                           size_t size);
/* Counts the occurrences of name; copies the index-th into buf. */
const char *http_query_get_nth(const struct http_request *req, const char *name, int index,
                               char *buf, size_t size);
void http_add_header(struct http_response *resp, const char *name, const char *value);
/* Sets status and a JSON body (json is consumed). */
void http_json(struct http_response *resp, int status, cJSON *json);
void http_empty(struct http_response *resp, int status);
/* The platform's ErrorBody. */
void http_error(struct http_response *resp, const struct http_request *req, int status,
                const char *code, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The control API's {"error":"..."}. */
void http_sim_error(struct http_response *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Parses the request body as JSON; on failure answers 400 and returns NULL. */
cJSON *http_parse_body(const struct http_request *req, struct http_response *resp, int sim_api);

void http_route(struct gcsim *sim, struct http_request *req, struct http_response *resp);

/* Handlers, one module each (rest_oauth.c, rest_notifications.c, rest_outbound.c, control.c);
 * subpath is the path after the module's prefix. */
void rest_oauth_token(struct gcsim *sim, const struct http_request *req,
                      struct http_response *resp);
void rest_notifications(struct gcsim *sim, const struct http_request *req,
                        struct http_response *resp, const char *subpath);
void rest_outbound(struct gcsim *sim, const struct http_request *req, struct http_response *resp,
                   const char *subpath);
void control_handle(struct gcsim *sim, const struct http_request *req,
                    struct http_response *resp, const char *subpath);

#endif
