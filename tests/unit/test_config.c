/* Unit tests for config/: loading, expansion, secrets, validation errors, the
 * effective-configuration printer and the check-config command. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config/config.h"
#include "config/config_units.h"
#include "tests/harness.h"

#define MINIMAL                                                                          \
    "platform:\n"                                                                        \
    "  region: us_east_1\n"                                                              \
    "  client_id: cid\n"                                                                 \
    "  client_secret: csecret\n"

/* A valid Standard Webhooks key (base64 of 24 bytes). */
#define WHSEC "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

static char err[16384];

static struct relay_config *load(const char *text)
{
    err[0] = '\0';
    return config_load_buffer("relay.yaml", text, strlen(text), err, sizeof err);
}

/* Loads text that must fail and returns the error text. */
static const char *load_error(const char *text)
{
    struct relay_config *cfg = load(text);
    if (cfg != NULL) {
        config_destroy(cfg);
        return "(loaded without error)";
    }
    return err;
}

static char *print_to_string(const struct relay_config *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        return NULL;
    config_print_effective(cfg, f);
    fclose(f);
    return buf;
}

/* Writes content to a new temporary file; returns its path (caller frees, unlinks). */
static char *temp_file(const char *content)
{
    char *path = strdup("/tmp/crelay-config-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0) {
        free(path);
        return NULL;
    }
    size_t len = strlen(content);
    if (write(fd, content, len) != (ssize_t)len) {
        close(fd);
        unlink(path);
        free(path);
        return NULL;
    }
    close(fd);
    return path;
}

static size_t count_lines(const char *text)
{
    size_t lines = text[0] != '\0';
    for (const char *p = text; *p != '\0'; p++)
        lines += *p == '\n';
    return lines;
}

/* ------------------------------------------------------------------------------ */

static void test_minimal_config_gets_every_default(void)
{
    struct relay_config *cfg = load(MINIMAL);
    CHECK_MSG(cfg != NULL, "%s", err);
    REQUIRE(cfg != NULL);
    CHECK_EQ_STR(cfg->platform.region, "us_east_1");
    CHECK_EQ_STR(cfg->platform.api_url, "https://api.mypurecloud.com");
    CHECK_EQ_STR(cfg->platform.login_url, "https://login.mypurecloud.com");
    CHECK_EQ_STR(cfg->platform.client_id, "cid");
    CHECK_EQ_STR(cfg->platform.client_secret, "csecret");
    CHECK_EQ_INT(cfg->platform.rest_budget_per_minute, 240);
    CHECK_EQ_INT(cfg->platform.request_timeout_ms, 10000);
    CHECK_EQ_INT(cfg->platform.token_refresh_margin_ms, 60000);
    CHECK(cfg->subscriptions.all_campaigns);
    CHECK_EQ_INT(cfg->subscriptions.topics, CONFIG_TOPIC_ALL);
    CHECK_EQ_INT(cfg->subscriptions.rediscover_interval_ms, 300000);
    CHECK_EQ_INT(cfg->subscriptions.max_topics_per_channel, 1000);
    CHECK_EQ_INT(cfg->subscriptions.max_channels, 20);
    CHECK_EQ_INT(cfg->stream.heartbeat_timeout_ms, 60000);
    CHECK_EQ_INT(cfg->stream.ping_interval_ms, 20000);
    CHECK_EQ_INT(cfg->stream.max_frame_bytes, 1048576);
    CHECK_EQ_INT(cfg->stream.reconnect_min_ms, 1000);
    CHECK_EQ_INT(cfg->stream.reconnect_max_ms, 60000);
    CHECK_EQ_INT(cfg->stream.healthy_after_ms, 30000);
    CHECK_EQ_INT(cfg->stream.channel_refresh_ms, 23LL * 3600 * 1000);
    CHECK(!cfg->stream.decode_thread);
    CHECK_EQ_INT(cfg->lifecycle.status_map_count, 7);
    CHECK_EQ_INT(config_status_lookup(&cfg->lifecycle, "on"), LC_RUNNING);
    CHECK_EQ_INT(config_status_lookup(&cfg->lifecycle, "forced_stopping"), LC_STOPPING);
    CHECK_EQ_INT(config_status_lookup(&cfg->lifecycle, "invalid"), LC_FAILED);
    CHECK_EQ_INT(config_status_lookup(&cfg->lifecycle, "brand_new"), LC_UNKNOWN);
    CHECK_EQ_INT(config_tolerance_ms(&cfg->lifecycle, "predictive"), 180000);
    CHECK_EQ_INT(config_tolerance_ms(&cfg->lifecycle, "PROGRESSIVE"), 60000);
    CHECK_EQ_INT(config_tolerance_ms(&cfg->lifecycle, "agentless"), 120000);
    CHECK_EQ_INT(config_tolerance_ms(&cfg->lifecycle, "telepathic"), 300000);
    CHECK_EQ_INT(cfg->lifecycle.active_limit, 50);
    CHECK_EQ_INT(cfg->lifecycle.active_warn, 45);
    CHECK_EQ_STR(cfg->events.type_prefix, "cx.outbound.");
    CHECK_EQ_STR(cfg->events.source_domain, "mypurecloud.com");
    CHECK_EQ_INT(cfg->events.stats_min_interval_ms, 10000);
    CHECK_EQ_STR(cfg->outbox.path, "./campaign-relay.db");
    CHECK_EQ_INT(cfg->outbox.max_bytes, 1073741824);
    CHECK(cfg->outbox.high_water > 0.799 && cfg->outbox.high_water < 0.801);
    CHECK_EQ_INT(cfg->outbox.commit_interval_ms, 5);
    CHECK_EQ_INT(cfg->outbox.commit_max_events, 1000);
    CHECK(!cfg->sinks.kafka.enabled);
    CHECK(!cfg->sinks.file.enabled);
    CHECK_EQ_INT(cfg->sinks.webhook_count, 0);
    CHECK_EQ_STR(cfg->admin.listen_host, "127.0.0.1");
    CHECK_EQ_INT(cfg->admin.listen_port, 9464);
    CHECK(cfg->admin.bearer_token == NULL);
    CHECK_EQ_INT(cfg->control.max_concurrent_per_dialer, 2);
    CHECK_EQ_INT(cfg->control.max_put_retries, 3);
    CHECK_EQ_INT(cfg->log.level, LOG_INFO);
    CHECK_EQ_INT(cfg->log.format, LOG_FORMAT_LOGFMT);
    CHECK_EQ_INT(cfg->shutdown.grace_ms, 10000);
    config_destroy(cfg);
}

static void test_example_file_loads_cleanly(void)
{
    unsetenv("GENESYS_CLIENT_SECRET");
    unsetenv("WEBHOOK_SECRET");
    unsetenv("KAFKA_BROKERS");
    struct relay_config *cfg = config_load_file("config/relay.example.yaml", err, sizeof err);
    CHECK_MSG(cfg != NULL, "%s", err);
    REQUIRE(cfg != NULL);
    CHECK_EQ_STR(cfg->platform.region, "us_east_1");
    CHECK(cfg->sinks.kafka.enabled);
    CHECK_EQ_STR(cfg->sinks.kafka.brokers, "127.0.0.1:9092");
    CHECK_EQ_STR(cfg->sinks.kafka.topic_alerts, "campaign-relay.alerts");
    REQUIRE(cfg->sinks.kafka.properties.count == 1);
    CHECK_EQ_STR(cfg->sinks.kafka.properties.items[0].key, "compression.type");
    REQUIRE(cfg->sinks.webhook_count == 1);
    const struct config_webhook *w = &cfg->sinks.webhooks[0];
    CHECK_EQ_STR(w->name, "alerts-pager");
    CHECK_EQ_INT(w->secrets.count, 1);
    CHECK_EQ_INT(w->events.count, 2);
    CHECK_EQ_INT(w->backoff_max_ms, 300000);
    CHECK(cfg->sinks.file.enabled);
    CHECK_EQ_INT(cfg->sinks.file.max_bytes, 100LL * 1024 * 1024);
    config_destroy(cfg);
}

static void test_checked_in_fixtures(void)
{
    unsetenv("CRELAY_TEST_SECRET");
    struct relay_config *cfg = config_load_file("tests/data/config/minimal.yaml", err, sizeof err);
    CHECK_MSG(cfg != NULL, "%s", err);
    if (cfg != NULL) {
        CHECK_EQ_STR(cfg->platform.api_url, "https://api.mypurecloud.ie");
        CHECK_EQ_STR(cfg->platform.client_secret, "fixture-secret");
    }
    config_destroy(cfg);

    cfg = config_load_file("tests/data/config/errors.yaml", err, sizeof err);
    CHECK(cfg == NULL);
    config_destroy(cfg);
    CHECK_CONTAINS(err, "tests/data/config/errors.yaml:3:11: platform.region: unknown region");
    CHECK_CONTAINS(err, "errors.yaml:6:3: platform.request_timout: unknown key; did you mean "
                        "\"request_timeout\"?");
    CHECK_CONTAINS(err, "errors.yaml:8:20: stream.max_frame_bytes: expected a size");
    CHECK_CONTAINS(err, "errors.yaml:12:12: sinks.webhooks[0].url: expected an http:// or "
                        "https:// URL, got \"ftp://hooks.example.com\"");
    CHECK_CONTAINS(err, "errors.yaml:13:16: sinks.webhooks[0].events[0]: unknown event type "
                        "\"alert.stuck\"");
    CHECK_EQ_INT(count_lines(err), 5);

    cfg = config_load_file("tests/data/config/no-such-file.yaml", err, sizeof err);
    CHECK(cfg == NULL);
    CHECK_CONTAINS(err, "no-such-file.yaml: cannot open: No such file or directory");

    /* Past 4 MiB it is not a configuration file, whatever it holds; a directory opens
     * but cannot be read. */
    char big[] = "/tmp/crelay-config-XXXXXX";
    int fd = mkstemp(big);
    REQUIRE(fd >= 0);
    FILE *f = fdopen(fd, "w");
    REQUIRE(f);
    for (int i = 0; i < 4 * 1024 * 1024 / 16 + 1; i++)
        fputs("# padding line.\n", f);
    fclose(f);
    cfg = config_load_file(big, err, sizeof err);
    CHECK(cfg == NULL);
    CHECK_CONTAINS(err, "larger than 4194304 bytes; not a configuration file");
    unlink(big);
    cfg = config_load_file("tests/data/config", err, sizeof err);
    CHECK(cfg == NULL);
    CHECK_CONTAINS(err, "tests/data/config: read error");
}

static void test_region_spellings_and_explicit_urls(void)
{
    struct relay_config *cfg = load("platform:\n  region: ap-southeast-2\n  client_id: a\n"
                                    "  client_secret: b\n");
    CHECK_MSG(cfg != NULL, "%s", err);
    if (cfg != NULL) {
        CHECK_EQ_STR(cfg->platform.region, "ap_southeast_2");
        CHECK_EQ_STR(cfg->platform.api_url, "https://api.mypurecloud.com.au");
        CHECK_EQ_STR(cfg->platform.login_url, "https://login.mypurecloud.com.au");
        CHECK_EQ_STR(cfg->events.source_domain, "mypurecloud.com.au");
    }
    config_destroy(cfg);

    cfg = load("platform:\n  api_url: http://127.0.0.1:18080/\n"
               "  login_url: http://127.0.0.1:18081\n  client_id: a\n  client_secret: b\n");
    CHECK_MSG(cfg != NULL, "%s", err);
    if (cfg != NULL) {
        CHECK(cfg->platform.region == NULL);
        CHECK_EQ_STR(cfg->platform.api_url, "http://127.0.0.1:18080");
        CHECK_EQ_STR(cfg->platform.login_url, "http://127.0.0.1:18081");
        CHECK_EQ_STR(cfg->events.source_domain, "127.0.0.1");
    }
    config_destroy(cfg);

    cfg = load("platform:\n  api_url: https://api.example.org\n"
               "  login_url: https://login.example.org\n  client_id: a\n  client_secret: b\n"
               "events:\n  source_domain: relay.example\n");
    CHECK_MSG(cfg != NULL, "%s", err);
    if (cfg != NULL)
        CHECK_EQ_STR(cfg->events.source_domain, "relay.example");
    config_destroy(cfg);

    CHECK_CONTAINS(load_error("platform:\n  region: us_east_1\n  api_url: https://a.b\n"
                              "  login_url: https://c.d\n  client_id: a\n  client_secret: b\n"),
                   "relay.yaml:2:11: platform.region: give either region or api_url and "
                   "login_url, not both");
    CHECK_CONTAINS(load_error("platform:\n  api_url: https://a.b\n  client_id: a\n"
                              "  client_secret: b\n"),
                   "relay.yaml:2:12: platform.api_url: api_url and login_url must be given "
                   "together");
    CHECK_CONTAINS(load_error("platform:\n  api_url: https://a.b\n  login_url: a.b:80\n"
                              "  client_id: a\n  client_secret: b\n"),
                   "relay.yaml:3:14: platform.login_url: expected an http:// or https:// URL, "
                   "got \"a.b:80\"");
    CHECK_CONTAINS(load_error("platform:\n  region: us_east_11\n  client_id: a\n"
                              "  client_secret: b\n"),
                   "relay.yaml:2:11: platform.region: unknown region \"us_east_11\"; did you "
                   "mean \"us_east_1\"?");
    CHECK_CONTAINS(load_error("platform:\n  region: atlantis\n  client_id: a\n"
                              "  client_secret: b\n"),
                   "unknown region \"atlantis\"; expected one of us_east_1, eu_west_1");
}

static void test_environment_expansion(void)
{
    setenv("CRELAY_T_ID", "from-env", 1);
    setenv("CRELAY_T_EMPTY", "", 1);
    unsetenv("CRELAY_T_UNSET");
    struct relay_config *cfg = load("platform:\n  region: us_east_1\n"
                                    "  client_id: ${CRELAY_T_ID}\n"
                                    "  client_secret: \"pre-${CRELAY_T_UNSET:-fallback}-post\"\n"
                                    "  request_timeout: ${CRELAY_T_UNSET:-45s}\n"
                                    "outbox:\n  path: /var/lib/$$HOME/${CRELAY_T_EMPTY:-x}$\n");
    CHECK_MSG(cfg != NULL, "%s", err);
    if (cfg != NULL) {
        CHECK_EQ_STR(cfg->platform.client_id, "from-env");
        CHECK_EQ_STR(cfg->platform.client_secret, "pre-fallback-post");
        CHECK_EQ_INT(cfg->platform.request_timeout_ms, 45000);
        /* $$ is a literal dollar; an empty variable takes the :- default; a lone $ stays. */
        CHECK_EQ_STR(cfg->outbox.path, "/var/lib/$HOME/x$");
    }
    config_destroy(cfg);

    const char *e = load_error(MINIMAL "outbox:\n  path: ${CRELAY_T_UNSET}/db\n");
    CHECK_CONTAINS(e, "relay.yaml:6:9: outbox.path: environment variable CRELAY_T_UNSET is "
                      "not set");
    CHECK_CONTAINS(load_error(MINIMAL "outbox:\n  path: ${CRELAY_T_ID\n"),
                   "relay.yaml:6:9: outbox.path: invalid variable reference");
    CHECK_CONTAINS(load_error(MINIMAL "outbox:\n  path: ${9lives}\n"),
                   "outbox.path: invalid variable reference");
    CHECK_CONTAINS(load_error(MINIMAL "outbox:\n  path: ${A:-no-close\n"),
                   "outbox.path: unterminated ${A:-...}");
    unsetenv("CRELAY_T_ID");
    unsetenv("CRELAY_T_EMPTY");
}

static void test_secrets_from_files(void)
{
    char *secret_path = temp_file("file-secret-value\n");
    char *token_path = temp_file("admin-token-value\r\n");
    char *key_a = temp_file(WHSEC "\n");
    char *kafka_pw = temp_file("kafka-pw");
    REQUIRE(secret_path && token_path && key_a && kafka_pw);
    char text[2048];
    snprintf(text, sizeof text,
             "platform:\n  region: us_east_1\n  client_id: a\n  client_secret_file: %s\n"
             "admin:\n  bearer_token_file: %s\n"
             "sinks:\n  kafka:\n    brokers: 127.0.0.1:9092\n    properties:\n"
             "      sasl.password_file: %s\n      sasl.username: relay\n"
             "  webhooks:\n    - name: w\n      url: https://h.example\n"
             "      secret_file: [%s, %s]\n",
             secret_path, token_path, kafka_pw, key_a, key_a);
    struct relay_config *cfg = load(text);
    CHECK_MSG(cfg != NULL, "%s", err);
    if (cfg != NULL) {
        CHECK_EQ_STR(cfg->platform.client_secret, "file-secret-value");
        CHECK_EQ_STR(cfg->admin.bearer_token, "admin-token-value");
        REQUIRE(cfg->sinks.kafka.properties.count == 2);
        CHECK_EQ_STR(cfg->sinks.kafka.properties.items[0].key, "sasl.password");
        CHECK_EQ_STR(cfg->sinks.kafka.properties.items[0].value, "kafka-pw");
        CHECK(cfg->sinks.kafka.properties.items[0].secret);
        CHECK_EQ_STR(cfg->sinks.kafka.properties.items[1].key, "sasl.username");
        CHECK(!cfg->sinks.kafka.properties.items[1].secret);
        REQUIRE(cfg->sinks.webhook_count == 1);
        CHECK_EQ_INT(cfg->sinks.webhooks[0].secrets.count, 2);
        CHECK_EQ_STR(cfg->sinks.webhooks[0].secrets.items[1], WHSEC);
    }
    config_destroy(cfg);

    /* both forms at once */
    snprintf(text, sizeof text,
             "platform:\n  region: us_east_1\n  client_id: a\n  client_secret: x\n"
             "  client_secret_file: %s\n", secret_path);
    CHECK_CONTAINS(load_error(text), "relay.yaml:5:23: platform.client_secret_file: give "
                                     "either client_secret or client_secret_file, not both");
    /* an unreadable file */
    CHECK_CONTAINS(load_error("platform:\n  region: us_east_1\n  client_id: a\n"
                              "  client_secret_file: /nonexistent/crelay/secret\n"),
                   "relay.yaml:4:23: platform.client_secret_file: cannot read secret file "
                   "\"/nonexistent/crelay/secret\": No such file or directory");
    CHECK_CONTAINS(load_error("platform:\n  region: us_east_1\n  client_id: a\n"
                              "  client_secret_file: /tmp\n"),
                   "is not a regular file");
    if (geteuid() != 0) {
        chmod(secret_path, 0);
        snprintf(text, sizeof text, "platform:\n  region: us_east_1\n  client_id: a\n"
                                    "  client_secret_file: %s\n", secret_path);
        CHECK_CONTAINS(load_error(text), "Permission denied");
    }
    char *empty = temp_file("\n");
    REQUIRE(empty != NULL);
    snprintf(text, sizeof text, "platform:\n  region: us_east_1\n  client_id: a\n"
                                "  client_secret_file: %s\n", empty);
    CHECK_CONTAINS(load_error(text), "is empty");
    CHECK_CONTAINS(load_error("platform:\n  region: us_east_1\n  client_id: a\n"),
                   "relay.yaml:2:3: platform: missing required key \"client_secret\"");

    char *paths[] = {secret_path, token_path, key_a, kafka_pw, empty};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        unlink(paths[i]);
        free(paths[i]);
    }
}

static void test_syntax_and_structure_errors(void)
{
    CHECK_CONTAINS(load_error("platform:\n  region: [us_east_1\n  client_id: a\n"),
                   "relay.yaml:3:12: YAML syntax error: did not find expected ',' or ']'");
    CHECK_CONTAINS(load_error("platform:\n\tregion: x\n"), "relay.yaml:2:1: YAML syntax error");
    CHECK_CONTAINS(load_error(MINIMAL "---\nlog: {}\n"),
                   "relay.yaml:5:1: only one YAML document");
    CHECK_CONTAINS(load_error("base: &b {level: info}\nlog: *b\n"),
                   "relay.yaml:2:6: YAML aliases (*name) are not supported");
    CHECK_CONTAINS(load_error("just a string\n"),
                   "relay.yaml:1:1: expected a mapping of sections");
    CHECK_CONTAINS(load_error(""), "relay.yaml:1:1: missing required section \"platform\"");
    CHECK_CONTAINS(load_error(MINIMAL "? [a, b]\n: c\n"), "a mapping key must be a plain string");
    CHECK_CONTAINS(load_error(MINIMAL "outbox:\n  path: \"a\\0b\"\n"), "NUL character");

    char deep[512] = "";
    for (int i = 0; i < 80; i++)
        strcat(deep, "[");
    CHECK_CONTAINS(load_error(deep), "nesting deeper than 64 levels");
}

static void test_key_errors(void)
{
    CHECK_CONTAINS(load_error(MINIMAL "stream:\n  heartbeat_timeot: 5s\n"),
                   "relay.yaml:6:3: stream.heartbeat_timeot: unknown key; did you mean "
                   "\"heartbeat_timeout\"?");
    CHECK_CONTAINS(load_error(MINIMAL "sinkz: {}\n"),
                   "relay.yaml:5:1: sinkz: unknown key; did you mean \"sinks\"?");
    const char *e = load_error(MINIMAL "stream:\n  colour: blue\n");
    CHECK_CONTAINS(e, "relay.yaml:6:3: stream.colour: unknown key");
    CHECK(strstr(e, "did you mean") == NULL);
    CHECK_CONTAINS(load_error(MINIMAL "log:\n  level: info\n  level: debug\n"),
                   "relay.yaml:7:3: log.level: duplicate key (first given at line 6)");
    CHECK_CONTAINS(load_error(MINIMAL "sinks:\n  kafka:\n    brokers: b\n    properties:\n"
                                      "      acks: all\n      acks: '1'\n"),
                   "relay.yaml:10:7: sinks.kafka.properties.acks: duplicate key");
    CHECK_CONTAINS(load_error("platform:\n  region: us_east_1\n  client_secret: s\n"),
                   "relay.yaml:2:3: platform: missing required key \"client_id\"");
    CHECK_CONTAINS(load_error(MINIMAL "sinks:\n  file:\n    max_files: 3\n"),
                   "relay.yaml:7:5: sinks.file: missing required key \"path\"");
    CHECK_CONTAINS(load_error(MINIMAL "sinks:\n  webhooks:\n    - url: https://x.example\n"),
                   "relay.yaml:7:7: sinks.webhooks[0]: missing required key \"name\"");
    CHECK_CONTAINS(load_error(MINIMAL "sinks:\n  webhooks:\n    - name: a\n"),
                   "sinks.webhooks[0]: missing required key \"url\"");
    CHECK_CONTAINS(load_error(MINIMAL "sinks:\n  kafka: {}\n"),
                   "sinks.kafka: missing required key \"brokers\"");
}

static void test_wrong_types(void)
{
    CHECK_CONTAINS(load_error(MINIMAL "stream: 5\n"),
                   "relay.yaml:5:9: stream: expected a mapping, got a string");
    CHECK_CONTAINS(load_error(MINIMAL "stream:\n  ping_interval: [1, 2]\n"),
                   "relay.yaml:6:18: stream.ping_interval: expected a duration like 30s or "
                   "5m, got a list");
    CHECK_CONTAINS(load_error(MINIMAL "subscriptions:\n  topics: stats\n"),
                   "subscriptions.topics: expected a list of topics, got a string");
    CHECK_CONTAINS(load_error(MINIMAL "sinks:\n  webhooks: {name: a}\n"),
                   "sinks.webhooks: expected a list of webhooks, got a mapping");
    CHECK_CONTAINS(load_error(MINIMAL "control:\n  max_put_retries: three\n"),
                   "relay.yaml:6:20: control.max_put_retries: expected an integer from 0 to "
                   "100, got \"three\"");
    CHECK_CONTAINS(load_error(MINIMAL "platform_extra: 1\n"), "platform_extra: unknown key");
    CHECK_CONTAINS(load_error("platform:\n  region: us_east_1\n  client_id: ~\n"
                              "  client_secret: s\n"),
                   "relay.yaml:3:14: platform.client_id: expected a string, got null");
    CHECK_CONTAINS(load_error(MINIMAL "sinks:\n  webhooks:\n    - name: a\n"
                                      "      url: https://a.example\n      headers: [x]\n"),
                   "sinks.webhooks[0].headers: expected a mapping of header name to value, "
                   "got a list");
}

static void test_invalid_values(void)
{
    CHECK_CONTAINS(load_error(MINIMAL "sinks:\n  webhooks:\n    - name: a\n"
                                      "      url: https://a.example\n"
                                      "    - name: b\n      url: https://b.example\n"
                                      "      timeout: fast\n"),
                   "relay.yaml:11:16: sinks.webhooks[1].timeout: expected a duration like 30s "
                   "or 5m, got \"fast\"");
    CHECK_CONTAINS(load_error(MINIMAL "stream:\n  reconnect_max: -5s\n"),
                   "stream.reconnect_max: a duration must not be negative, got \"-5s\"");
    CHECK_CONTAINS(load_error(MINIMAL "shutdown:\n  grace: 99999999999999999999d\n"),
                   "shutdown.grace: duration too large");
    CHECK_CONTAINS(load_error(MINIMAL "shutdown:\n  grace: 9999999999999999d\n"),
                   "shutdown.grace: duration too large");
    CHECK_CONTAINS(load_error(MINIMAL "outbox:\n  max_bytes: 12 parsecs\n"),
                   "relay.yaml:6:14: outbox.max_bytes: expected a size like 64KiB or 256MiB, "
                   "got \"12 parsecs\"");
    CHECK_CONTAINS(load_error(MINIMAL "outbox:\n  max_bytes: 100\n"),
                   "outbox.max_bytes: must be at least 64KiB, got \"100\"");
    CHECK_CONTAINS(load_error(MINIMAL "outbox:\n  high_water: 1.5\n"),
                   "outbox.high_water: expected a number above 0 and at most 1, got \"1.5\"");
    CHECK_CONTAINS(load_error(MINIMAL "sinks:\n  webhooks:\n    - name: a\n"
                                      "      url: gopher://a.example\n"),
                   "relay.yaml:8:12: sinks.webhooks[0].url: expected an http:// or https:// "
                   "URL, got \"gopher://a.example\"");
    CHECK_CONTAINS(load_error(MINIMAL "lifecycle:\n  status_map:\n    on: RUNING\n"),
                   "relay.yaml:7:9: lifecycle.status_map.on: unknown lifecycle state "
                   "\"RUNING\" (did you mean \"RUNNING\"?)");
    CHECK_CONTAINS(load_error(MINIMAL "lifecycle:\n  tolerance:\n    predictve: 10s\n"),
                   "relay.yaml:7:5: lifecycle.tolerance.predictve: unknown dialing mode (did "
                   "you mean \"predictive\"?)");
    CHECK_CONTAINS(load_error(MINIMAL "sinks:\n  file:\n    path: /tmp/x\n"
                                      "    events: [campaign.state_change, alert.*]\n"),
                   "relay.yaml:8:14: sinks.file.events[0]: unknown event type "
                   "\"campaign.state_change\"; did you mean \"campaign.state_changed\"?");
    CHECK_CONTAINS(load_error(MINIMAL "sinks:\n  file:\n    path: /tmp/x\n    events: []\n"),
                   "sinks.file.events: expected at least one event type");
    CHECK_CONTAINS(load_error(MINIMAL "log:\n  level: loud\n"),
                   "relay.yaml:6:10: log.level: unknown log level \"loud\"");
    CHECK_CONTAINS(load_error(MINIMAL "log:\n  format: xml\n"), "log.format: unknown log format");
    CHECK_CONTAINS(load_error(MINIMAL "platform_x: 1\nplatform:\n  region: us_east_1\n"),
                   "relay.yaml:6:1: platform: duplicate key (first given at line 1)");
    CHECK_CONTAINS(load_error("platform:\n  region: us_east_1\n  client_id: a\n"
                              "  client_secret: s\n  rest_budget_per_minute: 301\n"),
                   "platform.rest_budget_per_minute: expected an integer from 1 to 300, got "
                   "\"301\"");
    CHECK_CONTAINS(load_error(MINIMAL "subscriptions:\n  max_topics_per_channel: 1001\n"),
                   "subscriptions.max_topics_per_channel: expected an integer from 1 to 1000");
    CHECK_CONTAINS(load_error(MINIMAL "subscriptions:\n  topics: [campaign, stat]\n"),
                   "relay.yaml:6:22: subscriptions.topics[1]: unknown topic \"stat\" (did you "
                   "mean \"stats\"?)");
    CHECK_CONTAINS(load_error(MINIMAL "subscriptions:\n  campaigns: some\n"),
                   "subscriptions.campaigns: expected \"all\" or a mapping");
    CHECK_CONTAINS(load_error(MINIMAL "admin:\n  listen: localhost\n"),
                   "relay.yaml:6:11: admin.listen: expected host:port");
    CHECK_CONTAINS(load_error(MINIMAL "stream:\n  ping_interval: 90s\n"),
                   "stream.ping_interval: must be shorter than stream.heartbeat_timeout");
    CHECK_CONTAINS(load_error(MINIMAL "stream:\n  channel_refresh: 1d\n"),
                   "stream.channel_refresh: must be shorter than 24h");
    CHECK_CONTAINS(load_error(MINIMAL "stream:\n  decode_thread: yes\n"),
                   "relay.yaml:6:18: stream.decode_thread: expected true or false, got \"yes\"");
    CHECK_CONTAINS(load_error(MINIMAL "lifecycle:\n  active_limit: 10\n"),
                   "lifecycle.active_warn: must not be above lifecycle.active_limit (10)");
    CHECK_CONTAINS(load_error(MINIMAL "sinks:\n  webhooks:\n    - name: a\n"
                                      "      url: https://a.example\n    - name: a\n"
                                      "      url: https://b.example\n"),
                   "relay.yaml:9:13: sinks.webhooks[1].name: duplicate webhook name (also used "
                   "by sinks.webhooks[0])");
    CHECK_CONTAINS(load_error(MINIMAL "sinks:\n  webhooks:\n    - name: a\n"
                                      "      url: https://a.example\n"
                                      "      headers: {Content-Type: text/plain}\n"),
                   "sinks.webhooks[0].headers.Content-Type: this header is set by the relay");
    CHECK_CONTAINS(load_error(MINIMAL "sinks:\n  kafka:\n    brokers: b\n"
                                      "    properties: {bootstrap.servers: x}\n"),
                   "sinks.kafka.properties.bootstrap.servers: set the brokers with "
                   "sinks.kafka.brokers");
}

static void test_errors_are_collected_up_to_a_limit(void)
{
    const char *e = load_error(MINIMAL "stream:\n  ping_interval: a\n  reconnect_min: b\n"
                                       "log:\n  level: c\n");
    CHECK_EQ_INT(count_lines(e), 3);
    /* reported in file order */
    const char *first = strstr(e, "ping_interval");
    const char *last = strstr(e, "log.level");
    CHECK(first != NULL && last != NULL && first < last);

    char text[8192] = MINIMAL "stream:\n";
    for (int i = 0; i < 80; i++) {
        char line[64];
        snprintf(line, sizeof line, "  unknown_%d: 1\n", i);
        strcat(text, line);
    }
    e = load_error(text);
    CHECK_EQ_INT(count_lines(e), 51);
    CHECK_CONTAINS(e, "relay.yaml: 30 more errors not shown");
}

static void test_secrets_never_appear_in_errors(void)
{
    setenv("CRELAY_T_BAD_KEY", "not-a-key-SENSITIVE", 1);
    const char *e = load_error(MINIMAL "sinks:\n  webhooks:\n    - name: a\n"
                                       "      url: https://a.example\n"
                                       "      secret: [" WHSEC ", \"${CRELAY_T_BAD_KEY}\"]\n");
    CHECK_CONTAINS(e, "relay.yaml:9:56: sinks.webhooks[0].secret[1]: expected a Standard "
                      "Webhooks key");
    CHECK(strstr(e, "SENSITIVE") == NULL);
    CHECK(strstr(e, WHSEC) == NULL);
    e = load_error("platform:\n  region: us_east_1\n  client_id: a\n"
                   "  client_secret: {SENSITIVE: x}\n");
    CHECK_CONTAINS(e, "platform.client_secret: expected a string");
    CHECK(strstr(e, "SENSITIVE") == NULL);
    unsetenv("CRELAY_T_BAD_KEY");
}

static const char *const FULL =
    "platform:\n"
    "  api_url: http://127.0.0.1:18080\n"
    "  login_url: http://127.0.0.1:18080\n"
    "  client_id: \"id with \\\"quotes\\\" and $$dollar\"\n"
    "  client_secret: TOPSECRET-client\n"
    "  rest_budget_per_minute: 100\n"
    "subscriptions:\n"
    "  campaigns:\n"
    "    ids: [c1, c2]\n"
    "    divisions: [d1]\n"
    "    name_prefix: EU-\n"
    "  topics: [campaign, stats]\n"
    "stream:\n"
    "  max_frame_bytes: 64KB\n"
    "  reconnect_min: 250ms\n"
    "  decode_thread: true\n"
    "lifecycle:\n"
    "  status_map: {on: RUNNING, off: STOPPED, paused: PAUSED}\n"
    "  tolerance: {predictive: 10m}\n"
    "events:\n"
    "  type_prefix: \"\"\n"
    "outbox:\n"
    "  high_water: 0.65\n"
    "  commit_interval: 0\n"
    "sinks:\n"
    "  kafka:\n"
    "    brokers: 127.0.0.1:9092\n"
    "    properties:\n"
    "      linger.ms: 5\n"
    "      sasl.password: TOPSECRET-kafka\n"
    "    events: [campaign.*, contactlist.import_status]\n"
    "  webhooks:\n"
    "    - name: pager\n"
    "      url: https://hooks.example.com/x?a=1\n"
    "      secret: [" WHSEC ", whsec_dG9wc2VjcmV0LXJvdGF0ZWQtMTIzNDU2Nzg5MA==]\n"
    "      events: alert.*\n"
    "      headers:\n"
    "        Authorization: Bearer TOPSECRET-header\n"
    "        X-Env: test\n"
    "  file:\n"
    "    path: /tmp/events.jsonl\n"
    "    max_bytes: 10MiB\n"
    "admin:\n"
    "  listen: \"[::1]:0\"\n"
    "  bearer_token: TOPSECRET-admin\n"
    "log:\n"
    "  level: debug\n"
    "  format: json\n";

static void test_full_config_values(void)
{
    struct relay_config *cfg = load(FULL);
    CHECK_MSG(cfg != NULL, "%s", err);
    REQUIRE(cfg != NULL);
    CHECK_EQ_STR(cfg->platform.client_id, "id with \"quotes\" and $dollar");
    CHECK(!cfg->subscriptions.all_campaigns);
    CHECK_EQ_INT(cfg->subscriptions.campaign_ids.count, 2);
    CHECK_EQ_INT(cfg->subscriptions.topics, CONFIG_TOPIC_CAMPAIGN | CONFIG_TOPIC_STATS);
    CHECK(config_campaign_selected(&cfg->subscriptions, "c1", "d1", "EU-north"));
    CHECK(!config_campaign_selected(&cfg->subscriptions, "c3", "d1", "EU-north"));
    CHECK(!config_campaign_selected(&cfg->subscriptions, "c1", "d2", "EU-north"));
    CHECK(!config_campaign_selected(&cfg->subscriptions, "c1", "d1", "US-east"));
    CHECK(!config_campaign_selected(&cfg->subscriptions, "c1", NULL, "EU-north"));
    CHECK_EQ_INT(cfg->stream.max_frame_bytes, 64000);
    CHECK_EQ_INT(cfg->stream.reconnect_min_ms, 250);
    CHECK(cfg->stream.decode_thread);
    CHECK_EQ_INT(cfg->lifecycle.status_map_count, 3);
    CHECK_EQ_INT(config_status_lookup(&cfg->lifecycle, "paused"), LC_PAUSED);
    CHECK_EQ_INT(config_status_lookup(&cfg->lifecycle, "complete"), LC_UNKNOWN);
    CHECK_EQ_INT(config_tolerance_ms(&cfg->lifecycle, "predictive"), 600000);
    CHECK_EQ_INT(config_tolerance_ms(&cfg->lifecycle, "power"), 60000);
    CHECK_EQ_STR(cfg->events.type_prefix, "");
    CHECK_EQ_INT(cfg->outbox.commit_interval_ms, 0);
    CHECK_EQ_STR(cfg->sinks.kafka.properties.items[0].value, "5");
    CHECK_EQ_INT(cfg->sinks.webhooks[0].secrets.count, 2);
    CHECK_EQ_INT(cfg->sinks.webhooks[0].events.count, 1);
    CHECK_EQ_STR(cfg->sinks.webhooks[0].url, "https://hooks.example.com/x?a=1");
    CHECK_EQ_STR(cfg->admin.listen_host, "::1");
    CHECK_EQ_INT(cfg->admin.listen_port, 0);
    CHECK_EQ_INT(cfg->log.level, LOG_DEBUG);
    CHECK_EQ_INT(cfg->log.format, LOG_FORMAT_JSON);
    config_destroy(cfg);
}

static void test_printed_output_masks_secrets(void)
{
    struct relay_config *cfg = load(FULL);
    REQUIRE(cfg != NULL);
    char *out = print_to_string(cfg);
    REQUIRE(out != NULL);
    CHECK(strstr(out, "TOPSECRET") == NULL);
    CHECK(strstr(out, "whsec_") == NULL);
    CHECK_CONTAINS(out, "  client_secret: \"********\"\n");
    CHECK_CONTAINS(out, "      \"sasl.password\": \"********\"\n");
    CHECK_CONTAINS(out, "      \"linger.ms\": \"5\"\n");
    CHECK_CONTAINS(out, "      secret: [\"********\", \"********\"]\n");
    CHECK_CONTAINS(out, "        \"Authorization\": \"********\"\n");
    CHECK_CONTAINS(out, "        \"X-Env\": \"test\"\n");
    CHECK_CONTAINS(out, "  bearer_token: \"********\"\n");
    CHECK_CONTAINS(out, "  client_id: \"id with \\\"quotes\\\" and $$dollar\"\n");
    CHECK_CONTAINS(out, "  reconnect_min: 250ms\n");
    CHECK_CONTAINS(out, "  max_frame_bytes: 64KB\n");
    CHECK_CONTAINS(out, "  decode_thread: true\n");
    free(out);
    config_destroy(cfg);
}

/* Replaces every mask with a value that passes validation (a webhook key is the
 * strictest form), so the printed configuration can be loaded again. */
static char *unmask(const char *printed)
{
    const char *mask = "\"" CONFIG_SECRET_MASK "\"";
    const char *replacement = "\"" WHSEC "\"";
    size_t cap = strlen(printed) * 6 + 1;
    char *out = calloc(1, cap);
    const char *p = printed;
    const char *hit;
    while ((hit = strstr(p, mask)) != NULL) {
        strncat(out, p, (size_t)(hit - p));
        strcat(out, replacement);
        p = hit + strlen(mask);
    }
    strcat(out, p);
    return out;
}

static void check_round_trip(const char *text)
{
    struct relay_config *first = load(text);
    CHECK_MSG(first != NULL, "%s", err);
    if (first == NULL)
        return;
    char *printed = print_to_string(first);
    char *unmasked = unmask(printed);
    struct relay_config *second = load(unmasked);
    CHECK_MSG(second != NULL, "printed configuration does not load: %s\n%s", err, printed);
    if (second != NULL) {
        char *reprinted = print_to_string(second);
        CHECK_EQ_STR(reprinted, printed);
        free(reprinted);
    }
    free(unmasked);
    free(printed);
    config_destroy(second);
    config_destroy(first);
}

static void test_printed_output_loads_again(void)
{
    check_round_trip(MINIMAL);
    check_round_trip(FULL);
    struct relay_config *example =
        config_load_file("config/relay.example.yaml", err, sizeof err);
    REQUIRE(example != NULL);
    char *printed = print_to_string(example);
    config_destroy(example);
    /* the example, reprinted under the test's file name */
    char *unmasked = unmask(printed);
    check_round_trip(unmasked);
    free(unmasked);
    free(printed);
}

static void test_event_filter_matching(void)
{
    char *patterns[] = {"alert.*", "campaign.state_changed"};
    struct config_event_filter filter = {patterns, 2};
    CHECK(config_event_filter_matches(&filter, "alert.dead_letter"));
    CHECK(config_event_filter_matches(&filter, "campaign.state_changed"));
    CHECK(!config_event_filter_matches(&filter, "campaign.progress"));
    CHECK(!config_event_filter_matches(&filter, "alertx.dead_letter"));
    CHECK(!config_event_filter_matches(&filter, "audit.action"));
    CHECK(!config_event_filter_matches(&filter, NULL));
    struct config_event_filter empty = {NULL, 0};
    CHECK(config_event_filter_matches(&empty, "audit.action"));
    CHECK(config_event_filter_matches(NULL, "audit.action"));
    char *star[] = {"*"};
    struct config_event_filter all = {star, 1};
    CHECK(config_event_filter_matches(&all, "contactlist.import_status"));
}

static void test_durations_and_sizes(void)
{
    int64_t v = -1;
    CHECK_EQ_INT(config_parse_duration_ms("250ms", &v), CONFIG_UNIT_OK);
    CHECK_EQ_INT(v, 250);
    CHECK_EQ_INT(config_parse_duration_ms("30s", &v), CONFIG_UNIT_OK);
    CHECK_EQ_INT(v, 30000);
    CHECK_EQ_INT(config_parse_duration_ms("5m", &v), CONFIG_UNIT_OK);
    CHECK_EQ_INT(v, 300000);
    CHECK_EQ_INT(config_parse_duration_ms("2h", &v), CONFIG_UNIT_OK);
    CHECK_EQ_INT(v, 7200000);
    CHECK_EQ_INT(config_parse_duration_ms("1d", &v), CONFIG_UNIT_OK);
    CHECK_EQ_INT(v, 86400000);
    CHECK_EQ_INT(config_parse_duration_ms("42", &v), CONFIG_UNIT_OK);
    CHECK_EQ_INT(v, 42000);
    CHECK_EQ_INT(config_parse_duration_ms("1.5s", &v), CONFIG_UNIT_SYNTAX);
    CHECK_EQ_INT(config_parse_duration_ms("5M", &v), CONFIG_UNIT_SYNTAX);
    CHECK_EQ_INT(config_parse_duration_ms("", &v), CONFIG_UNIT_SYNTAX);
    CHECK_EQ_INT(config_parse_duration_ms("s", &v), CONFIG_UNIT_SYNTAX);
    CHECK_EQ_INT(config_parse_duration_ms("-1s", &v), CONFIG_UNIT_NEGATIVE);
    CHECK_EQ_INT(config_parse_duration_ms("106751991168d", &v), CONFIG_UNIT_OVERFLOW);
    CHECK_EQ_INT(config_parse_duration_ms("9223372036854775807ms", &v), CONFIG_UNIT_OK);
    CHECK_EQ_INT(config_parse_duration_ms("9223372036854775808ms", &v), CONFIG_UNIT_OVERFLOW);

    CHECK_EQ_INT(config_parse_size_bytes("512", &v), CONFIG_UNIT_OK);
    CHECK_EQ_INT(v, 512);
    CHECK_EQ_INT(config_parse_size_bytes("64KiB", &v), CONFIG_UNIT_OK);
    CHECK_EQ_INT(v, 65536);
    CHECK_EQ_INT(config_parse_size_bytes("256MiB", &v), CONFIG_UNIT_OK);
    CHECK_EQ_INT(v, 268435456);
    CHECK_EQ_INT(config_parse_size_bytes("1GiB", &v), CONFIG_UNIT_OK);
    CHECK_EQ_INT(v, 1073741824);
    CHECK_EQ_INT(config_parse_size_bytes("3KB", &v), CONFIG_UNIT_OK);
    CHECK_EQ_INT(v, 3000);
    CHECK_EQ_INT(config_parse_size_bytes("2mb", &v), CONFIG_UNIT_OK);
    CHECK_EQ_INT(v, 2000000);
    CHECK_EQ_INT(config_parse_size_bytes("1GB", &v), CONFIG_UNIT_OK);
    CHECK_EQ_INT(v, 1000000000);
    CHECK_EQ_INT(config_parse_size_bytes("1 GiB", &v), CONFIG_UNIT_SYNTAX);
    CHECK_EQ_INT(config_parse_size_bytes("-1KiB", &v), CONFIG_UNIT_NEGATIVE);
    CHECK_EQ_INT(config_parse_size_bytes("9999999999TiB", &v), CONFIG_UNIT_OVERFLOW);

    char text[32];
    config_format_duration(90000, text, sizeof text);
    CHECK_EQ_STR(text, "90s");
    config_format_duration(0, text, sizeof text);
    CHECK_EQ_STR(text, "0s");
    config_format_duration(3600000, text, sizeof text);
    CHECK_EQ_STR(text, "1h");
    config_format_size(3 * 1024 * 1024, text, sizeof text);
    CHECK_EQ_STR(text, "3MiB");
    config_format_size(1500, text, sizeof text);
    CHECK_EQ_STR(text, "1500B");
    CHECK_EQ_INT(config_parse_size_bytes(text, &v), CONFIG_UNIT_OK);
    CHECK_EQ_INT(v, 1500);
}

/* Runs the check-config command as a real process; returns its exit status and
 * captures stdout and stderr. */
static int run_check_config(const char *arg, char *out, size_t out_size, char *errout,
                            size_t err_size)
{
    const char *build = getenv("BUILD") != NULL ? getenv("BUILD") : "build/asan";
    char out_path[] = "/tmp/crelay-cc-out-XXXXXX";
    char err_path[] = "/tmp/crelay-cc-err-XXXXXX";
    int out_fd = mkstemp(out_path);
    int err_fd = mkstemp(err_path);
    if (out_fd < 0 || err_fd < 0)
        return -1;
    char binary[512];
    snprintf(binary, sizeof binary, "%s/campaign-relay", build);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out_fd, 1);
        dup2(err_fd, 2);
        if (arg != NULL)
            execl(binary, binary, "check-config", arg, (char *)NULL);
        else
            execl(binary, binary, "check-config", (char *)NULL);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    ssize_t n = pread(out_fd, out, out_size - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    n = pread(err_fd, errout, err_size - 1, 0);
    errout[n > 0 ? n : 0] = '\0';
    close(out_fd);
    close(err_fd);
    unlink(out_path);
    unlink(err_path);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_check_config_command(void)
{
    static char out[65536], errout[65536];
    char *good = temp_file(FULL);
    REQUIRE(good != NULL);
    CHECK_EQ_INT(run_check_config(good, out, sizeof out, errout, sizeof errout), 0);
    CHECK_CONTAINS(out, "client_secret: \"********\"");
    CHECK_CONTAINS(out, "rest_budget_per_minute: 100");
    CHECK(strstr(out, "TOPSECRET") == NULL);
    CHECK(strstr(errout, "TOPSECRET") == NULL);

    char *bad = temp_file("platform:\n  region: us_east_1\n  client_id: a\n"
                          "  client_secret: TOPSECRET-x\nstream:\n  ping_interval: soon\n");
    REQUIRE(bad != NULL);
    CHECK_EQ_INT(run_check_config(bad, out, sizeof out, errout, sizeof errout), 1);
    char expected[512];
    snprintf(expected, sizeof expected,
             "%s:6:18: stream.ping_interval: expected a duration like 30s or 5m, got \"soon\"",
             bad);
    CHECK_CONTAINS(errout, expected);
    CHECK_EQ_STR(out, "");
    CHECK(strstr(errout, "TOPSECRET") == NULL);

    CHECK_EQ_INT(run_check_config(NULL, out, sizeof out, errout, sizeof errout), 2);
    CHECK_CONTAINS(errout, "usage: campaign-relay check-config FILE");
    CHECK_EQ_INT(run_check_config("--help", out, sizeof out, errout, sizeof errout), 0);
    CHECK_CONTAINS(out, "usage: campaign-relay check-config FILE");
    CHECK_EQ_INT(run_check_config("/nonexistent/relay.yaml", out, sizeof out, errout,
                                  sizeof errout), 1);
    CHECK_CONTAINS(errout, "/nonexistent/relay.yaml: cannot open");

    unlink(good);
    unlink(bad);
    free(good);
    free(bad);
}

/* Webhooks are always signed, so a webhook without a key is a configuration error, and
 * the outbox's durability mode is a choice between two named levels. */
static void test_webhook_secret_and_outbox_synchronous(void)
{
    CHECK_CONTAINS(load_error(MINIMAL "sinks:\n  webhooks:\n    - name: a\n"
                                      "      url: https://a.example\n"),
                   "relay.yaml:7:7: sinks.webhooks[0]: missing required key \"secret\" (or "
                   "\"secret_file\")");
    struct relay_config *cfg = load(MINIMAL);
    REQUIRE(cfg != NULL);
    CHECK(!cfg->outbox.synchronous_full);
    config_destroy(cfg);
    cfg = load(MINIMAL "outbox:\n  synchronous: full\n");
    CHECK_MSG(cfg != NULL, "%s", err);
    if (cfg)
        CHECK(cfg->outbox.synchronous_full);
    config_destroy(cfg);
    CHECK_CONTAINS(load_error(MINIMAL "outbox:\n  synchronous: extra\n"),
                   "relay.yaml:6:16: outbox.synchronous: expected normal or full, got \"extra\"");
}

int main(void)
{
    RUN(test_minimal_config_gets_every_default);
    RUN(test_example_file_loads_cleanly);
    RUN(test_checked_in_fixtures);
    RUN(test_region_spellings_and_explicit_urls);
    RUN(test_environment_expansion);
    RUN(test_secrets_from_files);
    RUN(test_syntax_and_structure_errors);
    RUN(test_key_errors);
    RUN(test_wrong_types);
    RUN(test_invalid_values);
    RUN(test_errors_are_collected_up_to_a_limit);
    RUN(test_secrets_never_appear_in_errors);
    RUN(test_full_config_values);
    RUN(test_printed_output_masks_secrets);
    RUN(test_printed_output_loads_again);
    RUN(test_event_filter_matching);
    RUN(test_durations_and_sizes);
    RUN(test_check_config_command);
    RUN(test_webhook_secret_and_outbox_synchronous);
    return harness_finish();
}
