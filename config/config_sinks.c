/*
 * Loading of the sinks section: Kafka, webhooks and the JSONL file.
 */
#include "config/config_sinks.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void kafka_defaults(struct config_kafka *k)
{
    k->topic_state = config_xstrdup("campaign-relay.state");
    k->topic_alerts = config_xstrdup("campaign-relay.alerts");
    k->topic_audit = config_xstrdup("campaign-relay.audit");
}

static void file_sink_defaults(struct config_file_sink *f)
{
    f->max_bytes = 100LL * 1024 * 1024;
    f->max_files = 5;
}

static void webhook_defaults(struct config_webhook *w)
{
    w->timeout_ms = 10000;
    w->max_attempts = 10;
    w->concurrency = 4;
    w->backoff_min_ms = 1000;
    w->backoff_max_ms = 5 * 60000;
}

static void webhook_free(struct config_webhook *w)
{
    free(w->name);
    free(w->url);
    config_string_list_free(&w->secrets);
    config_filter_free(&w->events);
    config_pair_list_free(&w->headers);
}

static bool is_secret_property(const char *key)
{
    return strcasestr(key, "password") != NULL || strcasestr(key, "secret") != NULL;
}

static void load_kafka_properties(struct config_loader *l, const struct config_node *node,
                                  struct config_pair_list *out)
{
    const char *path = "sinks.kafka.properties";
    if (node->kind != CONFIG_NODE_MAPPING) {
        if (!config_tree_is_null(node))
            config_report(l, node, path,
                          "expected a mapping of librdkafka property to value, got %s",
                          config_tree_kind_name(node));
        return;
    }
    config_check_keys(l, node, path, NULL);
    out->items = config_xcalloc(node->count + 1, sizeof *out->items);
    for (size_t i = 0; i < node->count; i++) {
        const struct config_node *key = node->pairs[i].key;
        const struct config_node *value = node->pairs[i].value;
        char prop_path[CONFIG_PATH_MAX];
        config_path_key(prop_path, path, key->scalar);
        if (strcmp(key->scalar, "bootstrap.servers") == 0 ||
            strcmp(key->scalar, "metadata.broker.list") == 0) {
            config_report(l, key, prop_path, "set the brokers with sinks.kafka.brokers");
            continue;
        }
        size_t key_len = strlen(key->scalar);
        bool from_file = key_len > 5 && strcmp(key->scalar + key_len - 5, "_file") == 0;
        char base[256];
        snprintf(base, sizeof base, "%.*s", (int)(from_file ? key_len - 5 : key_len), key->scalar);
        if (from_file && !is_secret_property(base))
            from_file = false;
        if (from_file) {
            snprintf(base, sizeof base, "%.*s", (int)(key_len - 5), key->scalar);
            /* read_secret reports "both given" and reads the file. */
            bool failed = false;
            char *secret = config_read_secret(l, node, path, base, &failed);
            if (secret != NULL) {
                out->items[out->count].key = config_xstrdup(base);
                out->items[out->count].value = secret;
                out->items[out->count].secret = true;
                out->count++;
            }
            continue;
        }
        char file_key[280];
        snprintf(file_key, sizeof file_key, "%s_file", key->scalar);
        bool secret = is_secret_property(key->scalar);
        if (secret && config_tree_get(node, file_key) != NULL)
            continue; /* the _file entry reports both being given */
        char *text = config_scalar_text(l, value, prop_path, "a string");
        if (text == NULL)
            continue;
        out->items[out->count].key = config_xstrdup(key->scalar);
        out->items[out->count].value = text;
        out->items[out->count].secret = secret;
        out->count++;
    }
}

static void load_kafka(struct config_loader *l, const struct config_node *sinks)
{
    static const char *const known[] = {"brokers", "topics", "properties", "events", NULL};
    static const char *const topic_keys[] = {"state", "alerts", "audit", NULL};
    struct config_kafka *k = &l->cfg->sinks.kafka;
    const struct config_node *sec = config_section(l, sinks, "sinks", "kafka");
    if (sec == NULL)
        return;
    const char *path = "sinks.kafka";
    k->enabled = true;
    kafka_defaults(k);
    config_check_keys(l, sec, path, known);
    config_read_string(l, sec, path, "brokers", false, &k->brokers);
    if (config_tree_get(sec, "brokers") == NULL)
        config_report_missing(l, sec, path, "brokers");
    const struct config_node *topics = config_section(l, sec, path, "topics");
    if (topics != NULL) {
        config_check_keys(l, topics, "sinks.kafka.topics", topic_keys);
        config_read_string(l, topics, "sinks.kafka.topics", "state", false, &k->topic_state);
        config_read_string(l, topics, "sinks.kafka.topics", "alerts", false, &k->topic_alerts);
        config_read_string(l, topics, "sinks.kafka.topics", "audit", false, &k->topic_audit);
    }
    const struct config_node *properties = config_tree_get(sec, "properties");
    if (properties != NULL)
        load_kafka_properties(l, properties, &k->properties);
    config_read_event_filter(l, sec, path, &k->events);
}

static bool is_base64(const char *text)
{
    size_t len = strlen(text);
    if (len == 0 || len % 4 != 0)
        return false;
    size_t padding = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '=') {
            padding++;
            continue;
        }
        if (padding > 0)
            return false;
        if (!isalnum((unsigned char)c) && c != '+' && c != '/')
            return false;
    }
    return padding <= 2;
}

static bool is_webhook_key(const char *secret)
{
    return strncmp(secret, "whsec_", 6) == 0 && is_base64(secret + 6);
}

/* secret: one key or a list (rotation); secret_file: one path or a list of paths. */
static void load_webhook_secrets(struct config_loader *l, const struct config_node *map,
                                 const char *parent, struct config_string_list *out)
{
    const struct config_node *direct = config_tree_get(map, "secret");
    const struct config_node *file = config_tree_get(map, "secret_file");
    char path[CONFIG_PATH_MAX];
    if (direct != NULL && file != NULL) {
        config_path_key(path, parent, "secret_file");
        config_report(l, file, path, "give either secret or secret_file, not both");
        return;
    }
    const struct config_node *node = direct != NULL ? direct : file;
    if (node == NULL) {
        /* Receivers verify the Standard Webhooks signature; the delivery engine signs
         * every request, so an endpoint without a key could never be served. */
        config_report(l, map, parent,
                      "missing required key \"secret\" (or \"secret_file\"): webhooks are "
                      "signed with a \"whsec_\" key");
        return;
    }
    config_path_key(path, parent, direct != NULL ? "secret" : "secret_file");
    bool is_list = node->kind == CONFIG_NODE_SEQUENCE;
    if (!is_list && (node->kind != CONFIG_NODE_SCALAR || config_tree_is_null(node))) {
        config_report(l, node, path, "expected a string or a list of strings, got %s",
                      config_tree_kind_name(node));
        return;
    }
    if (is_list && node->count == 0) {
        config_report(l, node, path, "expected at least one secret");
        return;
    }
    size_t count = is_list ? node->count : 1;
    out->items = config_xcalloc(count, sizeof *out->items);
    for (size_t i = 0; i < count; i++) {
        const struct config_node *item = is_list ? node->items[i] : node;
        char item_path[CONFIG_PATH_MAX];
        if (is_list)
            config_path_index(item_path, path, i);
        else
            snprintf(item_path, sizeof item_path, "%s", path);
        char *text = config_scalar_text(
            l, item, item_path, direct != NULL ? "a string (the key, or ${VAR})" : "a file path");
        if (text == NULL)
            continue;
        if (file != NULL) {
            char *secret = config_read_secret_file(l, item, item_path, text);
            free(text);
            text = secret;
            if (text == NULL)
                continue;
        }
        if (!is_webhook_key(text)) {
            config_report(l, item, item_path,
                          "expected a Standard Webhooks key: \"whsec_\" followed by base64 "
                          "(the value is not shown)");
            free(text);
            continue;
        }
        out->items[out->count++] = text;
    }
}

static bool is_token_char(char c)
{
    return isalnum((unsigned char)c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_sensitive_header(const char *name)
{
    return strcasecmp(name, "authorization") == 0 || strcasecmp(name, "proxy-authorization") == 0 ||
           strcasecmp(name, "cookie") == 0 || strcasestr(name, "token") != NULL ||
           strcasestr(name, "secret") != NULL || strcasestr(name, "key") != NULL ||
           strcasestr(name, "password") != NULL;
}

static void load_webhook_headers(struct config_loader *l, const struct config_node *node,
                                 const char *path, struct config_pair_list *out)
{
    static const char *const reserved[] = {
        "content-type",      "content-length",    "host", "webhook-id",
        "webhook-timestamp", "webhook-signature", NULL};
    if (node->kind != CONFIG_NODE_MAPPING) {
        if (!config_tree_is_null(node))
            config_report(l, node, path, "expected a mapping of header name to value, got %s",
                          config_tree_kind_name(node));
        return;
    }
    config_check_keys(l, node, path, NULL);
    out->items = config_xcalloc(node->count + 1, sizeof *out->items);
    for (size_t i = 0; i < node->count; i++) {
        const struct config_node *key = node->pairs[i].key;
        char header_path[CONFIG_PATH_MAX];
        config_path_key(header_path, path, key->scalar);
        bool valid_name = key->scalar[0] != '\0';
        for (const char *p = key->scalar; *p != '\0'; p++)
            valid_name = valid_name && is_token_char(*p);
        if (!valid_name) {
            config_report(l, key, header_path, "not a valid HTTP header name");
            continue;
        }
        bool is_reserved = false;
        for (size_t r = 0; reserved[r] != NULL; r++)
            is_reserved = is_reserved || strcasecmp(key->scalar, reserved[r]) == 0;
        if (is_reserved) {
            config_report(l, key, header_path, "this header is set by the relay");
            continue;
        }
        char *value = config_scalar_text(l, node->pairs[i].value, header_path, "a string");
        if (value == NULL)
            continue;
        if (strpbrk(value, "\r\n") != NULL) {
            config_report(l, node->pairs[i].value, header_path,
                          "a header value must not contain line breaks");
            free(value);
            continue;
        }
        out->items[out->count].key = config_xstrdup(key->scalar);
        out->items[out->count].value = value;
        out->items[out->count].secret = is_sensitive_header(key->scalar);
        out->count++;
    }
}

static bool is_valid_sink_name(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > 64)
        return false;
    for (const char *p = name; *p != '\0'; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.')
            return false;
    return true;
}

static void load_webhook(struct config_loader *l, const struct config_node *node, const char *path,
                         struct config_webhook *w)
{
    static const char *const known[] = {
        "name",         "url",         "secret",      "secret_file", "events",  "timeout",
        "max_attempts", "concurrency", "backoff_min", "backoff_max", "headers", NULL,
    };
    webhook_defaults(w);
    if (node->kind != CONFIG_NODE_MAPPING) {
        config_report(l, node, path,
                      "expected a mapping with name, url and other webhook settings, "
                      "got %s",
                      config_tree_kind_name(node));
        return;
    }
    config_check_keys(l, node, path, known);
    config_read_string(l, node, path, "name", false, &w->name);
    char name_path[CONFIG_PATH_MAX];
    config_path_key(name_path, path, "name");
    if (config_tree_get(node, "name") == NULL) {
        config_report_missing(l, node, path, "name");
    } else if (w->name != NULL && !is_valid_sink_name(w->name)) {
        char quoted[CONFIG_ECHO_MAX + 16];
        config_quote_value(w->name, quoted, sizeof quoted);
        config_report(l, config_tree_get(node, "name"), name_path,
                      "expected a name of letters, digits, '_', '-' and '.' (at most 64), got %s",
                      quoted);
    }
    w->url = config_read_url(l, node, path, "url", NULL, 0);
    if (config_tree_get(node, "url") == NULL)
        config_report_missing(l, node, path, "url");
    load_webhook_secrets(l, node, path, &w->secrets);
    config_read_event_filter(l, node, path, &w->events);
    config_read_duration(l, node, path, "timeout", 1, &w->timeout_ms);
    config_read_int(l, node, path, "max_attempts", 1, 1000, &w->max_attempts);
    config_read_int(l, node, path, "concurrency", 1, 64, &w->concurrency);
    config_read_duration(l, node, path, "backoff_min", 1, &w->backoff_min_ms);
    config_read_duration(l, node, path, "backoff_max", 1, &w->backoff_max_ms);
    if (w->backoff_min_ms > w->backoff_max_ms) {
        char min_path[CONFIG_PATH_MAX];
        config_path_key(min_path, path, "backoff_min");
        config_report(l, config_node_or(node, "backoff_min"), min_path,
                      "must not be longer than backoff_max");
    }
    const struct config_node *headers = config_tree_get(node, "headers");
    if (headers != NULL) {
        char headers_path[CONFIG_PATH_MAX];
        config_path_key(headers_path, path, "headers");
        load_webhook_headers(l, headers, headers_path, &w->headers);
    }
}

static void load_webhooks(struct config_loader *l, const struct config_node *sinks)
{
    const struct config_node *node = config_tree_get(sinks, "webhooks");
    const char *path = "sinks.webhooks";
    if (node == NULL || config_tree_is_null(node))
        return;
    if (node->kind != CONFIG_NODE_SEQUENCE) {
        config_report(l, node, path, "expected a list of webhooks, got %s",
                      config_tree_kind_name(node));
        return;
    }
    struct config_sinks *s = &l->cfg->sinks;
    s->webhooks = config_xcalloc(node->count + 1, sizeof *s->webhooks);
    s->webhook_count = node->count;
    for (size_t i = 0; i < node->count; i++) {
        char item_path[CONFIG_PATH_MAX];
        config_path_index(item_path, path, i);
        load_webhook(l, node->items[i], item_path, &s->webhooks[i]);
        for (size_t j = 0; j < i; j++) {
            if (s->webhooks[i].name != NULL && s->webhooks[j].name != NULL &&
                strcmp(s->webhooks[i].name, s->webhooks[j].name) == 0) {
                char name_path[CONFIG_PATH_MAX];
                config_path_key(name_path, item_path, "name");
                config_report(l, config_node_or(node->items[i], "name"), name_path,
                              "duplicate webhook name (also used by %s[%zu])", path, j);
                break;
            }
        }
    }
}

static void load_file_sink(struct config_loader *l, const struct config_node *sinks)
{
    static const char *const known[] = {"path", "max_bytes", "max_files", "events", NULL};
    struct config_file_sink *f = &l->cfg->sinks.file;
    const struct config_node *sec = config_section(l, sinks, "sinks", "file");
    if (sec == NULL)
        return;
    const char *path = "sinks.file";
    f->enabled = true;
    file_sink_defaults(f);
    config_check_keys(l, sec, path, known);
    config_read_string(l, sec, path, "path", false, &f->path);
    if (config_tree_get(sec, "path") == NULL)
        config_report_missing(l, sec, path, "path");
    config_read_size(l, sec, path, "max_bytes", 1024, &f->max_bytes);
    config_read_int(l, sec, path, "max_files", 1, 1000, &f->max_files);
    config_read_event_filter(l, sec, path, &f->events);
}

void config_load_sinks(struct config_loader *l, const struct config_node *root)
{
    static const char *const known[] = {"kafka", "webhooks", "file", NULL};
    const struct config_node *sec = config_section(l, root, "", "sinks");
    if (sec == NULL)
        return;
    config_check_keys(l, sec, "sinks", known);
    load_kafka(l, sec);
    load_webhooks(l, sec);
    load_file_sink(l, sec);
}

void config_sinks_free(struct config_sinks *s)
{
    struct config_kafka *k = &s->kafka;
    free(k->brokers);
    free(k->topic_state);
    free(k->topic_alerts);
    free(k->topic_audit);
    config_pair_list_free(&k->properties);
    config_filter_free(&k->events);
    for (size_t i = 0; i < s->webhook_count; i++)
        webhook_free(&s->webhooks[i]);
    free(s->webhooks);
    free(s->file.path);
    config_filter_free(&s->file.events);
}
