#include "tests/gcsim/http.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tests/gcsim/faults.h"
#include "util/timeutil.h"

const char *http_method_name(enum http_method method)
{
    static const char *const names[] = {"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OTHER"};
    return names[method];
}

const char *http_query_get_nth(const struct http_request *req, const char *name, int index,
                               char *buf, size_t size)
{
    const char *p = strbuf_cstr(&req->query);
    size_t name_len = strlen(name);
    int seen = 0;
    while (*p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > name_len && !strncmp(p, name, name_len) && p[name_len] == '=') {
            if (seen++ == index) {
                size_t vlen = len - name_len - 1;
                if (vlen >= size)
                    vlen = size - 1;
                memcpy(buf, p + name_len + 1, vlen);
                buf[vlen] = '\0';
                return buf;
            }
        }
        p = end ? end + 1 : p + len;
    }
    return NULL;
}

const char *http_query_get(const struct http_request *req, const char *name, char *buf,
                           size_t size)
{
    return http_query_get_nth(req, name, 0, buf, size);
}

void http_add_header(struct http_response *resp, const char *name, const char *value)
{
    if (resp->header_count == HTTP_MAX_HEADERS)
        return;
    snprintf(resp->header_names[resp->header_count], sizeof(resp->header_names[0]), "%s:", name);
    snprintf(resp->header_values[resp->header_count], sizeof(resp->header_values[0]), "%s",
             value);
    resp->header_count++;
}

void http_json(struct http_response *resp, int status, cJSON *json)
{
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    resp->status = status;
    resp->content_type = "application/json";
    strbuf_reset(&resp->body);
    strbuf_append(&resp->body, text ? text : "null");
    cJSON_free(text);
}

void http_empty(struct http_response *resp, int status)
{
    resp->status = status;
    resp->content_type = "application/json";
    strbuf_reset(&resp->body);
}

void http_error(struct http_response *resp, const struct http_request *req, int status,
                const char *code, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "message", message);
    cJSON_AddStringToObject(o, "code", code);
    cJSON_AddNumberToObject(o, "status", status);
    cJSON_AddStringToObject(o, "messageWithParams", message);
    cJSON_AddObjectToObject(o, "messageParams");
    cJSON_AddStringToObject(o, "contextId", req->correlation_id);
    cJSON_AddArrayToObject(o, "details");
    cJSON_AddArrayToObject(o, "errors");
    http_json(resp, status, o);
}

void http_sim_error(struct http_response *resp, int status, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", message);
    http_json(resp, status, o);
}

cJSON *http_parse_body(const struct http_request *req, struct http_response *resp, int sim_api)
{
    cJSON *json = cJSON_ParseWithLength(req->body.data ? req->body.data : "", req->body.len);
    if (json)
        return json;
    if (sim_api)
        http_sim_error(resp, 400, "request body is not valid JSON");
    else
        http_error(resp, req, 400, "bad.request", "The request body is not valid JSON");
    return NULL;
}

static void rate_limited(struct gcsim *sim, const struct http_request *req,
                         struct http_response *resp, int retry_after)
{
    char value[16];
    int limit = oauth_rate_limit(sim->oauth);
    http_error(resp, req, 429, "too.many.requests.retry.after",
               "Rate limit exceeded the maximum. [%d] requests for [60] seconds", limit);
    /* The platform's 429 body also says which limit was hit. */
    cJSON *body = cJSON_Parse(resp->body.data);
    cJSON *lim = cJSON_AddObjectToObject(body, "limit");
    cJSON_AddStringToObject(lim, "key", "client.credentials.token.rate.per.minute");
    cJSON_AddStringToObject(lim, "namespace", "platform.api");
    cJSON_AddNumberToObject(lim, "value", limit);
    http_json(resp, 429, body);
    snprintf(value, sizeof(value), "%d", retry_after);
    http_add_header(resp, "Retry-After", value);
}

void http_route(struct gcsim *sim, struct http_request *req, struct http_response *resp)
{
    static const char notifications[] = "/api/v2/notifications/";
    static const char outbound[] = "/api/v2/outbound/";
    struct rest_fault_hit hit;

    if (!strcmp(req->path, "/oauth/token")) {
        if (req->method != HTTP_POST)
            http_error(resp, req, 405, "method.not.allowed", "Use POST for /oauth/token");
        else
            rest_oauth_token(sim, req, resp);
        return;
    }
    if (!strncmp(req->path, "/sim/", 5)) {
        control_handle(sim, req, resp, req->path + 5);
        return;
    }
    if (strncmp(req->path, "/api/v2/", 8) != 0) {
        http_error(resp, req, 404, "not.found", "No resource at %s", req->path);
        return;
    }
    if (faults_take_rest(sim->faults, http_method_name(req->method), req->path, &hit)) {
        resp->delay_ms = hit.delay_ms;
        if (hit.status == 429) {
            rate_limited(sim, req, resp, hit.retry_after_s);
            return;
        }
        if (hit.status) {
            http_error(resp, req, hit.status, hit.status >= 500 ? "internal.server.error" : "bad.request",
                       "Injected failure (status %d)", hit.status);
            return;
        }
    }
    const char *why = NULL;
    int retry_after = 0;
    switch (oauth_check(sim->oauth, req->authorization, time_mono_ms(), &why, &retry_after)) {
    case OAUTH_UNAUTHORIZED:
        http_error(resp, req, 401, "bad.credentials", "Invalid login credentials: %s", why);
        return;
    case OAUTH_RATE_LIMITED:
        rate_limited(sim, req, resp, retry_after);
        return;
    case OAUTH_OK:
        break;
    }
    if (!strncmp(req->path, notifications, sizeof(notifications) - 1))
        rest_notifications(sim, req, resp, req->path + sizeof(notifications) - 1);
    else if (!strncmp(req->path, outbound, sizeof(outbound) - 1))
        rest_outbound(sim, req, resp, req->path + sizeof(outbound) - 1);
    else
        http_error(resp, req, 404, "not.found", "No resource at %s", req->path);
}
