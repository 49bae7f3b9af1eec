/* Tests of consumer/stream_conn against libwebsockets' own WebSocket server, over real
 * loopback sockets, plain and TLS: the upgrade, messages whole, fragmented, large and
 * oversized, the server's pings answered, the platform's text ping sent when quiet,
 * closes from either side with their codes, silence, a refused upgrade and a refused
 * connection. The server and the client share one lws context and one thread. */
#include "consumer/stream_conn.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/harness.h"
#include "util/log.h"
#include "util/strbuf.h"

#define TLS_CERT "tests/data/tls/localhost.crt"
#define TLS_KEY "tests/data/tls/localhost.key"

/* ---- the server: plays a list of writes, records what the client sends ---- */

enum action_kind { SEND_TEXT, SEND_FIRST, SEND_MIDDLE, SEND_LAST, SEND_PING, SEND_CLOSE };

struct action {
    enum action_kind kind;
    const char *payload;
    size_t len; /* 0: strlen(payload) */
    int close_code;
};

struct server {
    const struct action *script;
    int script_len;
    int next;
    struct strbuf received; /* text messages from the client, each followed by '|' */
    int pongs;
    struct strbuf pong_payload;
    int close_code; /* the code of the client's close frame */
    int closed;
    int established;
};

static struct server server;

static int callback_server(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                           void *in, size_t len)
{
    (void)user;
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        server.established = 1;
        lws_callback_on_writable(wsi);
        break;
    case LWS_CALLBACK_SERVER_WRITEABLE: {
        if (server.next >= server.script_len)
            break;
        const struct action *a = &server.script[server.next++];
        size_t n = a->len ? a->len : (a->payload ? strlen(a->payload) : 0);
        if (a->kind == SEND_CLOSE) {
            lws_close_reason(wsi, (enum lws_close_status)a->close_code,
                             (unsigned char *)(uintptr_t)a->payload, n);
            return -1;
        }
        unsigned char *buf = malloc(LWS_PRE + n + 1);
        if (!buf)
            abort();
        if (n)
            memcpy(buf + LWS_PRE, a->payload, n);
        int flags = a->kind == SEND_TEXT    ? LWS_WRITE_TEXT
                    : a->kind == SEND_FIRST  ? LWS_WRITE_TEXT | LWS_WRITE_NO_FIN
                    : a->kind == SEND_MIDDLE ? LWS_WRITE_CONTINUATION | LWS_WRITE_NO_FIN
                    : a->kind == SEND_LAST   ? LWS_WRITE_CONTINUATION
                                             : LWS_WRITE_PING;
        int written = lws_write(wsi, buf + LWS_PRE, n, (enum lws_write_protocol)flags);
        free(buf);
        if (written < (int)n)
            return -1;
        if (server.next < server.script_len)
            lws_callback_on_writable(wsi);
        break;
    }
    case LWS_CALLBACK_RECEIVE:
        strbuf_append_len(&server.received, in, len);
        if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0)
            strbuf_append_char(&server.received, '|');
        break;
    case LWS_CALLBACK_RECEIVE_PONG:
        server.pongs++;
        strbuf_append_len(&server.pong_payload, in, len);
        break;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (len >= 2)
            server.close_code = (((const unsigned char *)in)[0] << 8) |
                                ((const unsigned char *)in)[1];
        break;
    case LWS_CALLBACK_CLOSED:
        server.closed = 1;
        break;
    default:
        break;
    }
    return 0;
}

/* A listener that answers every request with a 404, as the platform does for a
 * channel that no longer exists; or, when not_found_silent, never answers. */
static int not_found_silent;

static int callback_not_found(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                              void *in, size_t len)
{
    (void)user;
    (void)in;
    (void)len;
    if (reason == LWS_CALLBACK_RAW_RX && !not_found_silent) {
        static const char answer[] =
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        unsigned char buf[LWS_PRE + sizeof answer];
        memcpy(buf + LWS_PRE, answer, sizeof answer - 1);
        lws_write(wsi, buf + LWS_PRE, sizeof answer - 1, LWS_WRITE_RAW);
    }
    return 0;
}

static const struct lws_protocols server_protocols[] = {
    {"test-server", callback_server, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct lws_protocols not_found_protocols[] = {
    {"not-found", callback_not_found, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ---- the client's owner ---- */

struct owner {
    int established;
    int messages;
    struct strbuf received; /* messages, each followed by '|' */
    size_t oversized_bytes;
    int closed;
    enum stream_close_cause cause;
    char detail[256];
};

static void on_established(void *opaque, struct stream_conn *conn)
{
    (void)conn;
    ((struct owner *)opaque)->established = 1;
}

static void on_message(void *opaque, struct stream_conn *conn, const char *text, size_t len)
{
    (void)conn;
    struct owner *o = opaque;
    CHECK_EQ_INT(strlen(text), len);
    strbuf_append_len(&o->received, text, len);
    strbuf_append_char(&o->received, '|');
    o->messages++;
}

static void on_oversized(void *opaque, struct stream_conn *conn, size_t bytes)
{
    (void)conn;
    ((struct owner *)opaque)->oversized_bytes = bytes;
}

static void on_closed(void *opaque, struct stream_conn *conn, enum stream_close_cause cause,
                      const char *detail)
{
    (void)conn;
    struct owner *o = opaque;
    o->closed++;
    o->cause = cause;
    snprintf(o->detail, sizeof o->detail, "%s", detail);
}

static const struct stream_conn_callbacks owner_callbacks = {on_established, on_message,
                                                             on_oversized, on_closed};

/* ---- fixture ---- */

struct fixture {
    struct lws_context *context;
    int ws_port, wss_port, not_found_port;
    struct owner owner;
};

struct deadline {
    lws_sorted_usec_list_t sul;
    int passed;
};

static void deadline_passed(lws_sorted_usec_list_t *sul)
{
    lws_container_of(sul, struct deadline, sul)->passed = 1;
}

/* Services the loop until *flag is set or ms pass; lws_service() waits for the next
 * timer, so the deadline is a timer. */
static int service_until(struct fixture *f, const int *flag, int ms)
{
    struct deadline deadline = {.passed = 0};
    lws_sul_schedule(f->context, 0, &deadline.sul, deadline_passed,
                     (lws_usec_t)ms * LWS_US_PER_MS);
    while (!(flag && *flag) && !deadline.passed)
        lws_service(f->context, 0);
    lws_sul_cancel(&deadline.sul);
    return flag && *flag;
}

static const struct lws_protocols *client_protocols[] = {&stream_conn_protocol, NULL};

static int fixture_start(struct fixture *f)
{
    memset(f, 0, sizeof *f);
    memset(&server, 0, sizeof server);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    info.pt_serv_buf_size = 64 * 1024;
    f->context = lws_create_context(&info);
    if (!f->context)
        return -1;

    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.vhost_name = "client";
    info.pprotocols = client_protocols;
    if (!lws_create_vhost(f->context, &info))
        return -1;

    memset(&info, 0, sizeof info);
    info.port = 0;
    info.iface = "127.0.0.1";
    info.vhost_name = "ws";
    info.protocols = server_protocols;
    struct lws_vhost *ws = lws_create_vhost(f->context, &info);

    info.vhost_name = "wss";
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.ssl_cert_filepath = TLS_CERT;
    info.ssl_private_key_filepath = TLS_KEY;
    struct lws_vhost *wss = lws_create_vhost(f->context, &info);

    memset(&info, 0, sizeof info);
    info.port = 0;
    info.iface = "127.0.0.1";
    info.vhost_name = "not-found";
    info.protocols = not_found_protocols;
    info.options = LWS_SERVER_OPTION_ADOPT_APPLY_LISTEN_ACCEPT_CONFIG |
                   LWS_SERVER_OPTION_ONLY_RAW;
    info.listen_accept_role = "raw-skt";
    info.listen_accept_protocol = "not-found";
    struct lws_vhost *not_found = lws_create_vhost(f->context, &info);
    if (!ws || !wss || !not_found)
        return -1;
    f->ws_port = lws_get_vhost_listen_port(ws);
    f->wss_port = lws_get_vhost_listen_port(wss);
    f->not_found_port = lws_get_vhost_listen_port(not_found);
    return f->ws_port > 0 && f->wss_port > 0 && f->not_found_port > 0 ? 0 : -1;
}

static void fixture_stop(struct fixture *f)
{
    lws_context_destroy(f->context);
    strbuf_free(&f->owner.received);
    strbuf_free(&server.received);
    strbuf_free(&server.pong_payload);
}

static struct stream_conn *open_conn(struct fixture *f, const char *scheme, int port,
                                     size_t max_frame_bytes, int64_t ping_ms, int64_t silence_ms)
{
    char uri[128];
    snprintf(uri, sizeof uri, "%s://localhost:%d/channels/test-channel", scheme, port);
    struct stream_conn_options options = {max_frame_bytes, ping_ms, silence_ms};
    char errstr[256] = "";
    struct stream_conn *conn =
        stream_conn_open(f->context, uri, &options, &owner_callbacks, &f->owner, errstr,
                         sizeof errstr);
    CHECK_MSG(conn != NULL, "%s", errstr);
    return conn;
}

/* ---- tests ---- */

static char big_message[200000];

static const struct action conversation[] = {
    {SEND_TEXT, "{\"topicName\":\"channel.metadata\"}", 0, 0},
    {SEND_FIRST, "{\"frag", 0, 0},
    {SEND_PING, "are you there", 0, 0},
    {SEND_MIDDLE, "ment", 0, 0},
    {SEND_LAST, "ed\":1}", 0, 0},
    {SEND_TEXT, big_message, sizeof big_message, 0},
    {SEND_TEXT, "{\"last\":true}", 0, 0},
};

/* Everything a session carries, over TLS or not, then a close we ask for. */
static void run_conversation(const char *scheme, int tls)
{
    struct fixture f;
    REQUIRE(fixture_start(&f) == 0);
    memset(big_message, 'x', sizeof big_message);
    big_message[0] = '"';
    big_message[sizeof big_message - 1] = '"';
    server.script = conversation;
    server.script_len = (int)(sizeof conversation / sizeof conversation[0]);

    struct stream_conn *conn =
        open_conn(&f, scheme, tls ? f.wss_port : f.ws_port, 1 << 20, 150, 5000);
    REQUIRE(conn != NULL);
    CHECK(service_until(&f, &f.owner.established, 5000));
    CHECK(strstr(stream_conn_uri(conn), "/channels/test-channel") != NULL);
    for (int i = 0; i < 250 && f.owner.messages < 4 && !f.owner.closed; i++)
        service_until(&f, NULL, 20);
    CHECK_EQ_INT(f.owner.messages, 4);
    struct strbuf expected = {0};
    strbuf_append(&expected, "{\"topicName\":\"channel.metadata\"}|{\"fragmented\":1}|");
    strbuf_append_len(&expected, big_message, sizeof big_message);
    strbuf_append(&expected, "|{\"last\":true}|");
    CHECK(f.owner.received.len == expected.len &&
          memcmp(f.owner.received.data, expected.data, expected.len) == 0);
    strbuf_free(&expected);
    CHECK_EQ_INT(server.pongs, 1);
    CHECK_EQ_STR(strbuf_cstr(&server.pong_payload), "are you there");

    /* Quiet for longer than the ping interval: the platform's text ping goes out. */
    service_until(&f, NULL, 400);
    CHECK_CONTAINS(strbuf_cstr(&server.received), "{\"message\":\"ping\"}|");
    CHECK(stream_conn_is_established(conn));

    stream_conn_close(conn);
    CHECK(!stream_conn_is_established(conn));
    CHECK(service_until(&f, &f.owner.closed, 3000));
    CHECK_EQ_INT(f.owner.cause, STREAM_CLOSE_REQUESTED);
    service_until(&f, &server.closed, 3000);
    CHECK_EQ_INT(server.close_code, 1000);
    fixture_stop(&f);
}

static void test_plain_session(void)
{
    run_conversation("ws", 0);
}

static void test_tls_session(void)
{
    run_conversation("wss", 1);
}

static void test_server_close_is_reported_with_its_code(void)
{
    struct fixture f;
    REQUIRE(fixture_start(&f) == 0);
    static const struct action script[] = {
        {SEND_TEXT, "{\"a\":1}", 0, 0},
        {SEND_CLOSE, "maintenance", 0, 1001},
    };
    server.script = script;
    server.script_len = 2;
    struct stream_conn *conn = open_conn(&f, "wss", f.wss_port, 1 << 20, 0, 5000);
    REQUIRE(conn != NULL);
    CHECK(service_until(&f, &f.owner.closed, 5000));
    CHECK_EQ_INT(f.owner.messages, 1);
    CHECK_EQ_INT(f.owner.cause, STREAM_CLOSE_REMOTE);
    CHECK_EQ_STR(f.owner.detail, "peer closed with code 1001: maintenance");
    fixture_stop(&f);
}

static void test_oversized_message_is_dropped_and_the_stream_goes_on(void)
{
    struct fixture f;
    REQUIRE(fixture_start(&f) == 0);
    memset(big_message, 'y', sizeof big_message);
    static const struct action script[] = {
        {SEND_TEXT, big_message, 5000, 0},
        {SEND_FIRST, big_message, 600, 0},
        {SEND_LAST, big_message, 600, 0},
        {SEND_TEXT, "{\"after\":1}", 0, 0},
    };
    server.script = script;
    server.script_len = 4;
    struct stream_conn *conn = open_conn(&f, "ws", f.ws_port, 1000, 0, 5000);
    REQUIRE(conn != NULL);
    for (int i = 0; i < 100 && f.owner.messages < 1; i++)
        service_until(&f, NULL, 20);
    CHECK_EQ_STR(strbuf_cstr(&f.owner.received), "{\"after\":1}|");
    CHECK_EQ_INT(f.owner.oversized_bytes, 1200);
    CHECK(stream_conn_is_established(conn));
    stream_conn_abandon(conn);
    service_until(&f, &server.closed, 3000);
    CHECK_EQ_INT(f.owner.closed, 0); /* abandoned: no callback */
    fixture_stop(&f);
}

/* A port that was bound a moment ago and is closed now. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t addr_len = sizeof addr;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &addr_len) == 0)
        port = ntohs(addr.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

enum target { TO_WS, TO_WSS, TO_NOT_FOUND, TO_CLOSED_PORT };

/* Connects to a server that will not talk, and checks how the connection ended. */
static void expect_close(enum target target, int64_t silence_ms, int established,
                         enum stream_close_cause cause, const char *detail_text)
{
    struct fixture f;
    REQUIRE(fixture_start(&f) == 0);
    int port = target == TO_WS ? f.ws_port
               : target == TO_WSS ? f.wss_port
               : target == TO_NOT_FOUND ? f.not_found_port
                                        : closed_port();
    REQUIRE(port > 0);
    struct stream_conn *conn =
        open_conn(&f, target == TO_WSS ? "wss" : "ws", port, 1 << 20, 0, silence_ms);
    REQUIRE(conn != NULL);
    CHECK(service_until(&f, &f.owner.closed, 5000));
    CHECK_EQ_INT(f.owner.established, established);
    CHECK_EQ_INT(f.owner.cause, cause);
    CHECK_CONTAINS(f.owner.detail, detail_text);
    fixture_stop(&f);
}

static void test_silence_closes_the_connection(void)
{
    expect_close(TO_WS, 300, 1, STREAM_CLOSE_HEARTBEAT_TIMEOUT, "no traffic for");
}

static void test_refused_upgrade_is_a_connect_failure(void)
{
    expect_close(TO_NOT_FOUND, 5000, 0, STREAM_CLOSE_CONNECT_FAILED,
                 "answered \"404 Not Found\"");
}

static void test_unanswered_upgrade_is_a_connect_failure(void)
{
    not_found_silent = 1;
    expect_close(TO_NOT_FOUND, 300, 0, STREAM_CLOSE_CONNECT_FAILED,
                 "no answer to the WebSocket upgrade for");
    not_found_silent = 0;
}

static void test_refused_connection_is_a_connect_failure(void)
{
    expect_close(TO_CLOSED_PORT, 5000, 0, STREAM_CLOSE_CONNECT_FAILED, "Unable to connect");
}

static void test_untrusted_certificate_is_a_connect_failure(void)
{
    setenv("SSL_CERT_FILE", "/nonexistent/ca.crt", 1);
    expect_close(TO_WSS, 5000, 0, STREAM_CLOSE_CONNECT_FAILED,
                 "the server's certificate was refused");
    setenv("SSL_CERT_FILE", TLS_CERT, 1);
    CHECK_EQ_INT(server.established, 0);
}

static void test_unusable_uris_are_refused(void)
{
    struct fixture f;
    REQUIRE(fixture_start(&f) == 0);
    struct stream_conn_options options = {1 << 20, 0, 5000};
    static const struct {
        const char *uri;
        const char *error;
    } bad[] = {
        {"ftp://localhost/x", "is not ws:// or wss://"},
        {"ws://localhost/a b", "has a space or control character"},
        {"ws://localhost/a\r\nX-Injected: 1", "has a space or control character"},
        {"notauri", "is not ws:// or wss://"},
        {"ws:///no-host", "cannot parse connectUri"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char errstr[256] = "";
        struct stream_conn *conn = stream_conn_open(f.context, bad[i].uri, &options,
                                                    &owner_callbacks, &f.owner, errstr,
                                                    sizeof errstr);
        CHECK_MSG(conn == NULL, "accepted %s", bad[i].uri);
        CHECK_CONTAINS(errstr, bad[i].error);
    }
    fixture_stop(&f);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    /* The client trusts the test certificate alone, as OpenSSL clients do when told. */
    setenv("SSL_CERT_FILE", TLS_CERT, 1);
    unsetenv("SSL_CERT_DIR");
    lws_set_log_level(getenv("LWS_LOG") ? atoi(getenv("LWS_LOG")) : 0, NULL);
    RUN(test_plain_session);
    RUN(test_tls_session);
    RUN(test_server_close_is_reported_with_its_code);
    RUN(test_untrusted_certificate_is_a_connect_failure);
    RUN(test_oversized_message_is_dropped_and_the_stream_goes_on);
    RUN(test_silence_closes_the_connection);
    RUN(test_refused_upgrade_is_a_connect_failure);
    RUN(test_unanswered_upgrade_is_a_connect_failure);
    RUN(test_refused_connection_is_a_connect_failure);
    RUN(test_unusable_uris_are_refused);
    return harness_finish();
}
