/*
 * webhook_receiver: a scriptable HTTP/1.1 webhook endpoint for tests.
 *
 *   webhook_receiver [--port N] [--secret whsec_…]... [--script "500,429:retry-after=2,
 *                    timeout,200"] [--default-status N] [--status-for-type TYPE=N]...
 *                    [--fail-rate P --seed N] [--tolerance S] [--out FILE]
 *
 * Listens on 127.0.0.1 (port 0 picks a free one) and prints
 * "webhook-receiver listening on http://127.0.0.1:PORT". A single poll() loop serves any
 * number of keep-alive connections, pipelined requests, and bodies of any size
 * (Content-Length or chunked). Each complete request gets, in this order of precedence:
 * the status of a --status-for-type rule matching the CloudEvent's "type"; the next step
 * of the script (a status, optionally ":retry-after=SECONDS" or ":retry-after-date=SECONDS"
 * for the HTTP-date form, or "timeout": hold the request unanswered until the client gives
 * up); a 500 with probability --fail-rate; the
 * default status (200). Every request is appended to --out as one JSON line, flushed before
 * the response is sent:
 *   {"t_ms","method","path","content_type","webhook-id","webhook-timestamp",
 *    "signature_valid","signature_error","status_given","body"}
 * where status_given is 0 for a held request, signature_valid is null without --secret,
 * and body is the request's JSON (or a string when the body is not JSON).
 * SIGTERM or SIGINT closes everything and exits 0.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "publishers/webhook_sign.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#define MAX_HEADER_BYTES (64 * 1024)
#define MAX_SECRETS      8
#define MAX_TYPE_RULES   16
#define STATUS_HOLD      0

struct step {
    int status; /* STATUS_HOLD: never answer */
    int retry_after_s;
    bool retry_after_as_date; /* send Retry-After as an HTTP date that far ahead */
};

struct type_rule {
    const char *type;
    int status;
};

struct receiver {
    int listen_fd;
    int wake_pipe[2];
    struct webhook_keyring *keyring;
    int tolerance_s;
    struct step *script;
    size_t script_len;
    size_t script_next;
    int default_status;
    struct type_rule rules[MAX_TYPE_RULES];
    size_t rule_count;
    double fail_rate;
    uint64_t random_state;
    FILE *out;
};

struct connection {
    int fd;
    struct strbuf in;
    struct strbuf out;
    size_t out_sent;
    bool held;        /* a "timeout" step: read nothing more, answer nothing */
    bool close_after; /* the client asked for Connection: close */
    struct connection *next;
};

struct request {
    char method[16];
    char path[1024];
    char *webhook_id;
    char *webhook_timestamp;
    char *webhook_signature;
    char *content_type;
    bool close;
    struct strbuf body;
};

static int signal_pipe_fd = -1;

static void on_signal(int signo)
{
    (void)signo;
    int saved = errno;
    if (signal_pipe_fd >= 0 && write(signal_pipe_fd, "x", 1) < 0) {
        /* nothing to do: the loop also wakes on EINTR */
    }
    errno = saved;
}

/* ------------------------------------------------------------------------------------ */
/* Command line */

static int parse_int(const char *text, int min, int max, int *out)
{
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || end == text || *end || value < min || value > max)
        return -1;
    *out = (int)value;
    return 0;
}

static int parse_script(struct receiver *rx, const char *text)
{
    char *copy = strdup(text);
    if (!copy)
        abort();
    int rc = 0;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        struct step step = {0, 0, false};
        if (strcmp(item, "timeout") == 0) {
            step.status = STATUS_HOLD;
        } else {
            char *option = strchr(item, ':');
            if (option)
                *option++ = '\0';
            if (parse_int(item, 100, 599, &step.status) != 0) {
                fprintf(stderr, "webhook-receiver: --script step \"%s\" is not a status or "
                                "\"timeout\"\n", item);
                rc = -1;
                break;
            }
            const char *seconds = NULL;
            if (option && strncmp(option, "retry-after-date=", 17) == 0) {
                step.retry_after_as_date = true;
                seconds = option + 17;
            } else if (option && strncmp(option, "retry-after=", 12) == 0) {
                seconds = option + 12;
            }
            if (option && (!seconds || parse_int(seconds, 0, 86400, &step.retry_after_s) != 0)) {
                fprintf(stderr, "webhook-receiver: --script step option \"%s\" is not "
                                "retry-after=SECONDS or retry-after-date=SECONDS\n", option);
                rc = -1;
                break;
            }
        }
        struct step *grown = realloc(rx->script, (rx->script_len + 1) * sizeof *grown);
        if (!grown)
            abort();
        rx->script = grown;
        rx->script[rx->script_len++] = step;
    }
    free(copy);
    return rc;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: webhook_receiver [--port N] [--secret whsec_...]... [--script STEPS]\n"
            "         [--default-status N] [--status-for-type TYPE=N]... [--fail-rate P]\n"
            "         [--seed N] [--tolerance SECONDS] [--out FILE]\n");
}

static int parse_args(struct receiver *rx, int argc, char **argv, int *port)
{
    const char *secrets[MAX_SECRETS];
    size_t secret_count = 0;
    const char *out_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--help") == 0) {
            usage();
            exit(0);
        }
        if (!value) {
            fprintf(stderr, "webhook-receiver: %s needs a value\n", arg);
            return -1;
        }
        i++;
        if (strcmp(arg, "--port") == 0) {
            if (parse_int(value, 0, 65535, port) != 0) {
                fprintf(stderr, "webhook-receiver: --port \"%s\" is not a port\n", value);
                return -1;
            }
        } else if (strcmp(arg, "--secret") == 0) {
            if (secret_count == MAX_SECRETS) {
                fprintf(stderr, "webhook-receiver: at most %d secrets\n", MAX_SECRETS);
                return -1;
            }
            secrets[secret_count++] = value;
        } else if (strcmp(arg, "--script") == 0) {
            if (parse_script(rx, value) != 0)
                return -1;
        } else if (strcmp(arg, "--default-status") == 0) {
            if (parse_int(value, 100, 599, &rx->default_status) != 0) {
                fprintf(stderr, "webhook-receiver: --default-status \"%s\" is not a status\n",
                        value);
                return -1;
            }
        } else if (strcmp(arg, "--status-for-type") == 0) {
            const char *equals = strrchr(value, '=');
            struct type_rule *rule = &rx->rules[rx->rule_count];
            if (rx->rule_count == MAX_TYPE_RULES || !equals || equals == value ||
                parse_int(equals + 1, 100, 599, &rule->status) != 0) {
                fprintf(stderr, "webhook-receiver: --status-for-type \"%s\" is not TYPE=STATUS"
                                " (at most %d rules)\n", value, MAX_TYPE_RULES);
                return -1;
            }
            rule->type = strndup(value, (size_t)(equals - value));
            if (!rule->type)
                abort();
            rx->rule_count++;
        } else if (strcmp(arg, "--fail-rate") == 0) {
            char *end;
            rx->fail_rate = strtod(value, &end);
            if (*end || end == value || rx->fail_rate < 0 || rx->fail_rate > 1) {
                fprintf(stderr, "webhook-receiver: --fail-rate \"%s\" is not in [0, 1]\n",
                        value);
                return -1;
            }
        } else if (strcmp(arg, "--seed") == 0) {
            int seed;
            if (parse_int(value, 0, 1 << 30, &seed) != 0) {
                fprintf(stderr, "webhook-receiver: --seed \"%s\" is not a number\n", value);
                return -1;
            }
            rx->random_state = (uint64_t)seed * 0x9e3779b97f4a7c15ull + 1;
        } else if (strcmp(arg, "--tolerance") == 0) {
            if (parse_int(value, -1, 1 << 30, &rx->tolerance_s) != 0) {
                fprintf(stderr, "webhook-receiver: --tolerance \"%s\" is not seconds\n", value);
                return -1;
            }
        } else if (strcmp(arg, "--out") == 0) {
            out_path = value;
        } else {
            fprintf(stderr, "webhook-receiver: unknown option %s\n", arg);
            usage();
            return -1;
        }
    }
    if (secret_count > 0) {
        char err[256];
        rx->keyring = webhook_keyring_create(secrets, secret_count, err, sizeof err);
        if (!rx->keyring) {
            fprintf(stderr, "webhook-receiver: %s\n", err);
            return -1;
        }
    }
    if (out_path) {
        rx->out = fopen(out_path, "w");
        if (!rx->out) {
            fprintf(stderr, "webhook-receiver: cannot open %s: %s\n", out_path,
                    strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* HTTP parsing */

static void request_free(struct request *req)
{
    free(req->webhook_id);
    free(req->webhook_timestamp);
    free(req->webhook_signature);
    free(req->content_type);
    strbuf_free(&req->body);
}

static char *trimmed_copy(const char *start, const char *end)
{
    while (start < end && (*start == ' ' || *start == '\t'))
        start++;
    while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    char *copy = strndup(start, (size_t)(end - start));
    if (!copy)
        abort();
    return copy;
}

static bool header_is(const char *line, size_t name_len, const char *name)
{
    return strlen(name) == name_len && strncasecmp(line, name, name_len) == 0;
}

/* Decodes a chunked body starting at data. Returns 1 when complete (consumed set), 0 when
 * more bytes are needed, -1 when malformed. Trailers are skipped. */
static int decode_chunked(const char *data, size_t len, struct strbuf *body, size_t *consumed)
{
    size_t pos = 0;
    strbuf_reset(body);
    for (;;) {
        const char *eol = memmem(data + pos, len - pos, "\r\n", 2);
        if (!eol)
            return len - pos > 32 ? -1 : 0;
        char *end;
        unsigned long size = strtoul(data + pos, &end, 16);
        if (end == data + pos || (end != eol && *end != ';'))
            return -1;
        pos = (size_t)(eol - data) + 2;
        if (size == 0) {
            for (;;) { /* trailer lines up to an empty one */
                const char *trailer_end = memmem(data + pos, len - pos, "\r\n", 2);
                if (!trailer_end)
                    return 0;
                bool empty = trailer_end == data + pos;
                pos = (size_t)(trailer_end - data) + 2;
                if (empty) {
                    *consumed = pos;
                    return 1;
                }
            }
        }
        if (len - pos < size + 2)
            return 0;
        if (memcmp(data + pos + size, "\r\n", 2) != 0)
            return -1;
        strbuf_append_len(body, data + pos, size);
        pos += size + 2;
    }
}

/* Parses one request from the front of in. Returns 1 with req filled and *consumed set,
 * 0 when incomplete, or an HTTP error status (400, 431, 501) for a malformed request. */
static int parse_request(const struct strbuf *in, struct request *req, size_t *consumed)
{
    const char *data = in->data;
    const char *header_end = in->len ? memmem(data, in->len, "\r\n\r\n", 4) : NULL;
    if (!header_end)
        return in->len > MAX_HEADER_BYTES ? 431 : 0;
    size_t head_len = (size_t)(header_end - data) + 4;

    const char *line_end = memmem(data, head_len, "\r\n", 2);
    char version[16];
    char request_line[2048];
    size_t request_line_len = (size_t)(line_end - data);
    if (request_line_len >= sizeof request_line)
        return 400;
    memcpy(request_line, data, request_line_len);
    request_line[request_line_len] = '\0';
    if (sscanf(request_line, "%15s %1023s %15s", req->method, req->path, version) != 3 ||
        strncmp(version, "HTTP/1.", 7) != 0)
        return 400;

    long long content_length = -1;
    bool chunked = false;
    req->close = strcmp(version, "HTTP/1.0") == 0;
    const char *line = line_end + 2;
    while (line < header_end + 2) {
        const char *eol = memmem(line, (size_t)(header_end + 2 - line), "\r\n", 2);
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (!colon)
            return 400;
        size_t name_len = (size_t)(colon - line);
        char *value = trimmed_copy(colon + 1, eol);
        if (header_is(line, name_len, "content-length")) {
            char *end;
            content_length = strtoll(value, &end, 10);
            if (*end || end == value || content_length < 0) {
                free(value);
                return 400;
            }
        } else if (header_is(line, name_len, "transfer-encoding")) {
            chunked = strcasecmp(value, "chunked") == 0;
            if (!chunked) {
                free(value);
                return 501;
            }
        } else if (header_is(line, name_len, "connection")) {
            if (strcasecmp(value, "close") == 0)
                req->close = true;
            else if (strcasecmp(value, "keep-alive") == 0)
                req->close = false;
        } else if (header_is(line, name_len, "webhook-id") && !req->webhook_id) {
            req->webhook_id = value;
            value = NULL;
        } else if (header_is(line, name_len, "webhook-timestamp") && !req->webhook_timestamp) {
            req->webhook_timestamp = value;
            value = NULL;
        } else if (header_is(line, name_len, "webhook-signature") && !req->webhook_signature) {
            req->webhook_signature = value;
            value = NULL;
        } else if (header_is(line, name_len, "content-type") && !req->content_type) {
            req->content_type = value;
            value = NULL;
        }
        free(value);
        line = eol + 2;
    }

    if (chunked) {
        size_t body_consumed = 0;
        int rc = decode_chunked(data + head_len, in->len - head_len, &req->body, &body_consumed);
        if (rc <= 0)
            return rc < 0 ? 400 : 0;
        *consumed = head_len + body_consumed;
        return 1;
    }
    size_t body_len = content_length > 0 ? (size_t)content_length : 0;
    if (in->len - head_len < body_len)
        return 0;
    strbuf_reset(&req->body);
    strbuf_append_len(&req->body, data + head_len, body_len);
    *consumed = head_len + body_len;
    return 1;
}

/* ------------------------------------------------------------------------------------ */
/* Responses and the request log */

static double next_uniform(struct receiver *rx)
{
    uint64_t x = rx->random_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rx->random_state = x;
    return (double)((x * 0x2545f4914f6cdd1dull) >> 11) / (double)(1ull << 53);
}

static struct step choose_response(struct receiver *rx, const cJSON *body_json)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(body_json, "type");
    if (cJSON_IsString(type)) {
        for (size_t i = 0; i < rx->rule_count; i++)
            if (strcmp(rx->rules[i].type, type->valuestring) == 0)
                return (struct step){rx->rules[i].status, 0, false};
    }
    if (rx->script_next < rx->script_len)
        return rx->script[rx->script_next++];
    if (rx->fail_rate > 0 && next_uniform(rx) < rx->fail_rate)
        return (struct step){500, 0, false};
    return (struct step){rx->default_status, 0, false};
}

static void log_request(struct receiver *rx, const struct request *req, const cJSON *body_json,
                        int status)
{
    if (!rx->out)
        return;
    cJSON *line = cJSON_CreateObject();
    cJSON_AddNumberToObject(line, "t_ms", (double)time_now_ms());
    cJSON_AddStringToObject(line, "method", req->method);
    cJSON_AddStringToObject(line, "path", req->path);
    if (req->content_type)
        cJSON_AddStringToObject(line, "content_type", req->content_type);
    else
        cJSON_AddNullToObject(line, "content_type");
    if (req->webhook_id)
        cJSON_AddStringToObject(line, "webhook-id", req->webhook_id);
    else
        cJSON_AddNullToObject(line, "webhook-id");
    if (req->webhook_timestamp)
        cJSON_AddStringToObject(line, "webhook-timestamp", req->webhook_timestamp);
    else
        cJSON_AddNullToObject(line, "webhook-timestamp");
    if (rx->keyring) {
        char err[256] = "";
        int rc = webhook_verify(rx->keyring, req->webhook_id, req->webhook_timestamp,
                                req->webhook_signature, req->body.data, req->body.len,
                                time_now_ms() / 1000, rx->tolerance_s, err, sizeof err);
        cJSON_AddBoolToObject(line, "signature_valid", rc == 0);
        if (rc != 0)
            cJSON_AddStringToObject(line, "signature_error", err);
    } else {
        cJSON_AddNullToObject(line, "signature_valid");
    }
    cJSON_AddNumberToObject(line, "status_given", status);
    if (body_json)
        cJSON_AddItemToObject(line, "body", cJSON_Duplicate(body_json, 1));
    else
        cJSON_AddStringToObject(line, "body", strbuf_cstr(&req->body));
    char *text = cJSON_PrintUnformatted(line);
    if (!text)
        abort();
    fprintf(rx->out, "%s\n", text);
    fflush(rx->out);
    free(text);
    cJSON_Delete(line);
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 410: return "Gone";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

static void queue_response(struct connection *conn, struct step step)
{
    int status = step.status;
    char body[32];
    int body_len = snprintf(body, sizeof body, "status %d\n", status);
    bool no_body = status == 204 || status == 304 || status < 200;
    strbuf_appendf(&conn->out, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n", status,
                   reason_phrase(status));
    if (!no_body)
        strbuf_appendf(&conn->out, "Content-Length: %d\r\n", body_len);
    if (step.retry_after_s > 0 && step.retry_after_as_date) {
        time_t when = time(NULL) + step.retry_after_s;
        struct tm tm;
        char date[64];
        gmtime_r(&when, &tm);
        strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        strbuf_appendf(&conn->out, "Retry-After: %s\r\n", date);
    } else if (step.retry_after_s > 0) {
        strbuf_appendf(&conn->out, "Retry-After: %d\r\n", step.retry_after_s);
    }
    if (conn->close_after)
        strbuf_append(&conn->out, "Connection: close\r\n");
    strbuf_append(&conn->out, "\r\n");
    if (!no_body)
        strbuf_append(&conn->out, body);
}

/* Serves every complete request buffered on conn. */
static void serve_requests(struct receiver *rx, struct connection *conn)
{
    while (!conn->held && !conn->close_after) {
        struct request req;
        memset(&req, 0, sizeof req);
        strbuf_init(&req.body);
        size_t consumed = 0;
        int rc = parse_request(&conn->in, &req, &consumed);
        if (rc == 0) {
            request_free(&req);
            return;
        }
        if (rc != 1) {
            conn->close_after = true;
            queue_response(conn, (struct step){rc, 0, false});
            request_free(&req);
            return;
        }
        cJSON *body_json = req.body.len ? cJSON_ParseWithLength(req.body.data, req.body.len)
                                        : NULL;
        struct step step = choose_response(rx, body_json);
        log_request(rx, &req, body_json, step.status);
        cJSON_Delete(body_json);
        conn->close_after = req.close;
        if (step.status == STATUS_HOLD)
            conn->held = true;
        else
            queue_response(conn, step);
        request_free(&req);
        memmove(conn->in.data, conn->in.data + consumed, conn->in.len - consumed);
        conn->in.len -= consumed;
        conn->in.data[conn->in.len] = '\0';
    }
}

/* ------------------------------------------------------------------------------------ */
/* The loop */

static void close_connection(struct connection **list, struct connection *conn)
{
    for (struct connection **link = list; *link; link = &(*link)->next) {
        if (*link == conn) {
            *link = conn->next;
            break;
        }
    }
    close(conn->fd);
    strbuf_free(&conn->in);
    strbuf_free(&conn->out);
    free(conn);
}

static void accept_connections(struct receiver *rx, struct connection **list)
{
    for (;;) {
        int fd = accept4(rx->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        struct connection *conn = calloc(1, sizeof *conn);
        if (!conn)
            abort();
        conn->fd = fd;
        strbuf_init(&conn->in);
        strbuf_init(&conn->out);
        conn->next = *list;
        *list = conn;
    }
}

/* Returns false when the connection is finished and must be closed. */
static bool service_connection(struct receiver *rx, struct connection *conn, short revents)
{
    if (revents & (POLLIN | POLLHUP | POLLERR)) {
        char chunk[65536];
        for (;;) {
            ssize_t n = read(conn->fd, chunk, sizeof chunk);
            if (n > 0) {
                if (!conn->held)
                    strbuf_append_len(&conn->in, chunk, (size_t)n);
                continue;
            }
            if (n == 0)
                return false;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == EINTR)
                continue;
            return false;
        }
        serve_requests(rx, conn);
    }
    while (conn->out_sent < conn->out.len) {
        ssize_t n = write(conn->fd, conn->out.data + conn->out_sent,
                          conn->out.len - conn->out_sent);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return true;
            if (errno == EINTR)
                continue;
            return false;
        }
        conn->out_sent += (size_t)n;
    }
    strbuf_reset(&conn->out);
    conn->out_sent = 0;
    return !conn->close_after;
}

static int open_listener(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 128) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int run(struct receiver *rx)
{
    struct connection *connections = NULL;
    struct pollfd *fds = NULL;
    struct connection **polled = NULL; /* polled[i] owns fds[i], from index 2 on */
    size_t capacity = 0;
    bool stopping = false;
    while (!stopping) {
        size_t count = 2;
        for (struct connection *c = connections; c; c = c->next)
            count++;
        if (count > capacity) {
            capacity = count * 2;
            fds = realloc(fds, capacity * sizeof *fds);
            polled = realloc(polled, capacity * sizeof *polled);
            if (!fds || !polled)
                abort();
        }
        fds[0] = (struct pollfd){.fd = rx->wake_pipe[0], .events = POLLIN};
        fds[1] = (struct pollfd){.fd = rx->listen_fd, .events = POLLIN};
        size_t n = 2;
        for (struct connection *c = connections; c; c = c->next) {
            short events = POLLIN;
            if (c->out_sent < c->out.len)
                events |= POLLOUT;
            polled[n] = c;
            fds[n++] = (struct pollfd){.fd = c->fd, .events = events};
        }
        if (poll(fds, n, -1) < 0) {
            if (errno == EINTR)
                continue;
            perror("webhook-receiver: poll");
            break;
        }
        if (fds[0].revents)
            stopping = true;
        for (size_t i = 2; i < n; i++)
            if (fds[i].revents && !service_connection(rx, polled[i], fds[i].revents))
                close_connection(&connections, polled[i]);
        if (fds[1].revents & POLLIN)
            accept_connections(rx, &connections);
    }
    while (connections)
        close_connection(&connections, connections);
    free(fds);
    free(polled);
    return 0;
}

int main(int argc, char **argv)
{
    struct receiver rx;
    memset(&rx, 0, sizeof rx);
    rx.default_status = 200;
    rx.tolerance_s = WEBHOOK_SIGN_DEFAULT_TOLERANCE_S;
    rx.random_state = 0x853c49e6748fea9bull;
    rx.listen_fd = -1;
    int port = 0;
    int rc = 2;
    if (parse_args(&rx, argc, argv, &port) != 0)
        goto done;

    if (pipe2(rx.wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        perror("webhook-receiver: pipe");
        goto done;
    }
    signal_pipe_fd = rx.wake_pipe[1];
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
    signal(SIGPIPE, SIG_IGN);

    rx.listen_fd = open_listener(port);
    if (rx.listen_fd < 0) {
        fprintf(stderr, "webhook-receiver: cannot listen on 127.0.0.1:%d: %s\n", port,
                strerror(errno));
        goto done;
    }
    struct sockaddr_in bound;
    socklen_t bound_len = sizeof bound;
    getsockname(rx.listen_fd, (struct sockaddr *)&bound, &bound_len);
    printf("webhook-receiver listening on http://127.0.0.1:%d\n", ntohs(bound.sin_port));
    fflush(stdout);
    rc = run(&rx) == 0 ? 0 : 1;

done:
    if (rx.listen_fd >= 0)
        close(rx.listen_fd);
    if (signal_pipe_fd >= 0) {
        signal_pipe_fd = -1;
        close(rx.wake_pipe[0]);
        close(rx.wake_pipe[1]);
    }
    if (rx.out)
        fclose(rx.out);
    for (size_t i = 0; i < rx.rule_count; i++)
        free((char *)rx.rules[i].type);
    free(rx.script);
    webhook_keyring_destroy(rx.keyring);
    return rc;
}
