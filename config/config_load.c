/*
 * Loading: YAML tree -> struct relay_config, section by section. Every check reports
 * through the diag and carries on, so one run shows every mistake in the file.
 */
#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config_diag.h"
#include "config/config_expand.h"
#include "config/config_filter.h"
#include "config/config_net.h"
#include "config/config_tree.h"
#include "config/config_units.h"
#include "util/strbuf.h"

#define MAX_ERRORS 50
#define PATH_MAX_LEN 256
#define SECRET_FILE_MAX (64 * 1024)
#define CONFIG_FILE_MAX (4 * 1024 * 1024)
#define ECHO_MAX 60

struct loader {
    struct config_diag *diag;
    struct relay_config *cfg;
};

static char *xstrdup(const char *s)
{
    char *copy = strdup(s);
    if (copy == NULL)
        abort();
    return copy;
}

static void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count, size);
    if (p == NULL)
        abort();
    return p;
}

static void replace_string(char **slot, char *value)
{
    free(*slot);
    *slot = value;
}

/* Key paths longer than PATH_MAX_LEN (only hostile input has them) end in "...". */
static void mark_truncated(char *out, int written)
{
    if (written < 0 || written >= PATH_MAX_LEN)
        memcpy(out + PATH_MAX_LEN - 4, "...", 4);
}

static void path_key(char *out, const char *parent, const char *key)
{
    int written = parent[0] == '\0' ? snprintf(out, PATH_MAX_LEN, "%s", key)
                                    : snprintf(out, PATH_MAX_LEN, "%s.%s", parent, key);
    mark_truncated(out, written);
}

static void path_index(char *out, const char *parent, size_t index)
{
    mark_truncated(out, snprintf(out, PATH_MAX_LEN, "%s[%zu]", parent, index));
}

static void report(struct loader *l, const struct config_node *node, const char *path,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void report(struct loader *l, const struct config_node *node, const char *path,
                   const char *fmt, ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    config_diag_add(l->diag, node != NULL ? node->line : 0, node != NULL ? node->column : 0,
                    path, "%s", message);
}

/* A value quoted for an error message: printable, escaped, and cut short. Only
 * ever called for values that are not secrets. */
static void quote_value(const char *value, char *buf, size_t size)
{
    struct strbuf sb;
    strbuf_init(&sb);
    strbuf_append_char(&sb, '"');
    size_t shown = 0;
    for (const char *p = value; *p != '\0'; p++, shown++) {
        if (shown == ECHO_MAX) {
            strbuf_append(&sb, "...");
            break;
        }
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\')
            strbuf_appendf(&sb, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            strbuf_appendf(&sb, "\\x%02x", c);
        else
            strbuf_append_char(&sb, (char)c);
    }
    strbuf_append_char(&sb, '"');
    snprintf(buf, size, "%s", strbuf_cstr(&sb));
    strbuf_free(&sb);
}

/* Reports unknown keys (with a suggestion) and duplicate keys of a mapping. */
static void check_keys(struct loader *l, const struct config_node *map, const char *path,
                       const char *const *known)
{
    if (map == NULL || map->kind != CONFIG_NODE_MAPPING)
        return;
    for (size_t i = 0; i < map->count; i++) {
        const struct config_node *key = map->pairs[i].key;
        char key_path[PATH_MAX_LEN];
        path_key(key_path, path, key->scalar);
        bool duplicate = false;
        for (size_t j = 0; j < i && !duplicate; j++) {
            if (strcmp(map->pairs[j].key->scalar, key->scalar) == 0) {
                report(l, key, key_path, "duplicate key (first given at line %d)",
                       map->pairs[j].key->line);
                duplicate = true;
            }
        }
        if (duplicate || known == NULL)
            continue;
        bool found = false;
        for (size_t k = 0; known[k] != NULL && !found; k++)
            found = strcmp(known[k], key->scalar) == 0;
        if (found)
            continue;
        const char *suggestion = config_suggest(key->scalar, known);
        if (suggestion != NULL)
            report(l, key, key_path, "unknown key; did you mean \"%s\"?", suggestion);
        else
            report(l, key, key_path, "unknown key");
    }
}

/* The node of a sub-mapping: a mapping, or a null value standing for an empty one.
 * NULL when absent or of the wrong type (reported). */
static const struct config_node *section(struct loader *l, const struct config_node *map,
                                         const char *parent, const char *key)
{
    const struct config_node *node = config_tree_get(map, key);
    if (node == NULL || node->kind == CONFIG_NODE_MAPPING || config_tree_is_null(node))
        return node;
    char path[PATH_MAX_LEN];
    path_key(path, parent, key);
    report(l, node, path, "expected a mapping, got %s", config_tree_kind_name(node));
    return NULL;
}

/* The expanded text of a scalar, or NULL after reporting. `expected` describes the
 * wanted value for the type error. Secret values are never quoted in messages, and
 * expansion errors never quote the text at all. */
static char *scalar_text(struct loader *l, const struct config_node *node, const char *path,
                         const char *expected)
{
    if (node->kind != CONFIG_NODE_SCALAR || config_tree_is_null(node)) {
        report(l, node, path, "expected %s, got %s", expected, config_tree_kind_name(node));
        return NULL;
    }
    char err[256];
    char *text = config_expand(node->scalar, err, sizeof err);
    if (text == NULL)
        report(l, node, path, "%s", err);
    return text;
}

static void read_string(struct loader *l, const struct config_node *map, const char *parent,
                        const char *key, bool allow_empty, char **out)
{
    const struct config_node *node = config_tree_get(map, key);
    if (node == NULL)
        return;
    char path[PATH_MAX_LEN];
    path_key(path, parent, key);
    char *text = scalar_text(l, node, path, "a string");
    if (text == NULL)
        return;
    if (!allow_empty && text[0] == '\0') {
        report(l, node, path, "expected a non-empty string");
        free(text);
        return;
    }
    replace_string(out, text);
}

static void read_duration(struct loader *l, const struct config_node *map, const char *parent,
                          const char *key, int64_t min_ms, int64_t *out)
{
    const struct config_node *node = config_tree_get(map, key);
    if (node == NULL)
        return;
    char path[PATH_MAX_LEN];
    path_key(path, parent, key);
    char *text = scalar_text(l, node, path, "a duration like 30s or 5m");
    if (text == NULL)
        return;
    char quoted[ECHO_MAX + 16];
    quote_value(text, quoted, sizeof quoted);
    int64_t value = 0;
    switch (config_parse_duration_ms(text, &value)) {
    case CONFIG_UNIT_OK:
        if (value < min_ms) {
            char min_text[32];
            config_format_duration(min_ms, min_text, sizeof min_text);
            report(l, node, path, "must be at least %s, got %s", min_text, quoted);
        } else {
            *out = value;
        }
        break;
    case CONFIG_UNIT_NEGATIVE:
        report(l, node, path, "a duration must not be negative, got %s", quoted);
        break;
    case CONFIG_UNIT_OVERFLOW:
        report(l, node, path, "duration too large, got %s", quoted);
        break;
    case CONFIG_UNIT_SYNTAX:
        report(l, node, path, "expected a duration like 30s or 5m, got %s", quoted);
        break;
    }
    free(text);
}

static void read_size(struct loader *l, const struct config_node *map, const char *parent,
                      const char *key, int64_t min_bytes, int64_t *out)
{
    const struct config_node *node = config_tree_get(map, key);
    if (node == NULL)
        return;
    char path[PATH_MAX_LEN];
    path_key(path, parent, key);
    char *text = scalar_text(l, node, path, "a size like 64KiB or 256MiB");
    if (text == NULL)
        return;
    char quoted[ECHO_MAX + 16];
    quote_value(text, quoted, sizeof quoted);
    int64_t value = 0;
    switch (config_parse_size_bytes(text, &value)) {
    case CONFIG_UNIT_OK:
        if (value < min_bytes) {
            char min_text[32];
            config_format_size(min_bytes, min_text, sizeof min_text);
            report(l, node, path, "must be at least %s, got %s", min_text, quoted);
        } else {
            *out = value;
        }
        break;
    case CONFIG_UNIT_NEGATIVE:
        report(l, node, path, "a size must not be negative, got %s", quoted);
        break;
    case CONFIG_UNIT_OVERFLOW:
        report(l, node, path, "size too large, got %s", quoted);
        break;
    case CONFIG_UNIT_SYNTAX:
        report(l, node, path, "expected a size like 64KiB or 256MiB, got %s", quoted);
        break;
    }
    free(text);
}

static void read_int(struct loader *l, const struct config_node *map, const char *parent,
                     const char *key, int min, int max, int *out)
{
    const struct config_node *node = config_tree_get(map, key);
    if (node == NULL)
        return;
    char path[PATH_MAX_LEN];
    path_key(path, parent, key);
    char expected[64];
    snprintf(expected, sizeof expected, "an integer from %d to %d", min, max);
    char *text = scalar_text(l, node, path, expected);
    if (text == NULL)
        return;
    char *end = NULL;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    bool is_integer = end != text && *end == '\0' && errno == 0 && !isspace((unsigned char)*text);
    if (!is_integer || value < min || value > max) {
        char quoted[ECHO_MAX + 16];
        quote_value(text, quoted, sizeof quoted);
        report(l, node, path, "expected %s, got %s", expected, quoted);
    } else {
        *out = (int)value;
    }
    free(text);
}

/* A number in (min_exclusive, max]. */
static void read_fraction(struct loader *l, const struct config_node *map, const char *parent,
                          const char *key, double min_exclusive, double max, double *out)
{
    const struct config_node *node = config_tree_get(map, key);
    if (node == NULL)
        return;
    char path[PATH_MAX_LEN];
    path_key(path, parent, key);
    char expected[64];
    snprintf(expected, sizeof expected, "a number above %g and at most %g", min_exclusive, max);
    char *text = scalar_text(l, node, path, expected);
    if (text == NULL)
        return;
    char *end = NULL;
    errno = 0;
    double value = strtod(text, &end);
    bool is_number = end != text && *end == '\0' && errno == 0 &&
                     !isspace((unsigned char)*text) && value == value;
    if (!is_number || !(value > min_exclusive && value <= max)) {
        char quoted[ECHO_MAX + 16];
        quote_value(text, quoted, sizeof quoted);
        report(l, node, path, "expected %s, got %s", expected, quoted);
    } else {
        *out = value;
    }
    free(text);
}

/* Reads one scalar of a string list; `what` names an item for messages. */
static char *list_item(struct loader *l, const struct config_node *item, const char *path,
                       const char *what)
{
    char *text = scalar_text(l, item, path, what);
    if (text != NULL && text[0] == '\0') {
        report(l, item, path, "expected %s, got an empty string", what);
        free(text);
        return NULL;
    }
    return text;
}

static void string_list_free(struct config_string_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->items[i]);
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

/* A list of non-empty strings; a single string stands for a list of one when
 * allow_scalar. Items that fail are reported and left out. */
static bool read_string_list(struct loader *l, const struct config_node *node, const char *path,
                             const char *what, bool allow_scalar,
                             struct config_string_list *out)
{
    string_list_free(out);
    if (allow_scalar && node->kind == CONFIG_NODE_SCALAR && !config_tree_is_null(node)) {
        char *text = list_item(l, node, path, what);
        if (text == NULL)
            return false;
        out->items = xcalloc(1, sizeof *out->items);
        out->items[out->count++] = text;
        return true;
    }
    if (node->kind != CONFIG_NODE_SEQUENCE) {
        report(l, node, path, "expected a list of %ss, got %s", what,
               config_tree_kind_name(node));
        return false;
    }
    bool ok = true;
    out->items = xcalloc(node->count + 1, sizeof *out->items);
    for (size_t i = 0; i < node->count; i++) {
        char item_path[PATH_MAX_LEN];
        path_index(item_path, path, i);
        char *text = list_item(l, node->items[i], item_path, what);
        if (text == NULL)
            ok = false;
        else
            out->items[out->count++] = text;
    }
    return ok;
}

/* Reads a secret file: a regular file (never a FIFO or device that could block),
 * at most SECRET_FILE_MAX bytes, trailing newlines stripped. */
static char *read_secret_file(struct loader *l, const struct config_node *node,
                              const char *path, const char *file)
{
    int fd = open(file, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        report(l, node, path, "cannot read secret file \"%s\": %s", file, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        report(l, node, path, "secret file \"%s\" is not a regular file", file);
        close(fd);
        return NULL;
    }
    if (st.st_size > SECRET_FILE_MAX) {
        report(l, node, path, "secret file \"%s\" is larger than %d bytes", file,
               SECRET_FILE_MAX);
        close(fd);
        return NULL;
    }
    char *data = xcalloc(1, (size_t)st.st_size + 1);
    size_t used = 0;
    for (;;) {
        ssize_t n = read(fd, data + used, (size_t)st.st_size - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            report(l, node, path, "cannot read secret file \"%s\": %s", file, strerror(errno));
            close(fd);
            free(data);
            return NULL;
        }
        if (n == 0 || used + (size_t)n == (size_t)st.st_size) {
            used += (size_t)n;
            break;
        }
        used += (size_t)n;
    }
    close(fd);
    data[used] = '\0';
    if (strlen(data) != used) {
        report(l, node, path, "secret file \"%s\" contains a NUL byte", file);
        free(data);
        return NULL;
    }
    while (used > 0 && (data[used - 1] == '\n' || data[used - 1] == '\r'))
        data[--used] = '\0';
    if (used == 0) {
        report(l, node, path, "secret file \"%s\" is empty", file);
        free(data);
        return NULL;
    }
    return data;
}

/* A secret given as KEY (usually "${VAR}") or KEY_file. Returns the value, or NULL
 * when absent or on error (then *failed is set). Values are never quoted in errors. */
static char *read_secret(struct loader *l, const struct config_node *map, const char *parent,
                         const char *key, bool *failed)
{
    char file_key[128];
    snprintf(file_key, sizeof file_key, "%s_file", key);
    const struct config_node *direct = config_tree_get(map, key);
    const struct config_node *file = config_tree_get(map, file_key);
    char path[PATH_MAX_LEN];
    if (direct != NULL && file != NULL) {
        path_key(path, parent, file_key);
        report(l, file, path, "give either %s or %s, not both", key, file_key);
        *failed = true;
        return NULL;
    }
    if (direct != NULL) {
        path_key(path, parent, key);
        char *value = scalar_text(l, direct, path, "a string (the secret itself, or ${VAR})");
        if (value != NULL && value[0] == '\0') {
            report(l, direct, path, "the secret is empty");
            free(value);
            value = NULL;
        }
        if (value == NULL)
            *failed = true;
        return value;
    }
    if (file != NULL) {
        path_key(path, parent, file_key);
        char *file_path = scalar_text(l, file, path, "a file path");
        if (file_path == NULL) {
            *failed = true;
            return NULL;
        }
        char *value = read_secret_file(l, file, path, file_path);
        free(file_path);
        if (value == NULL)
            *failed = true;
        return value;
    }
    return NULL;
}

static void filter_free(struct config_event_filter *filter)
{
    for (size_t i = 0; i < filter->count; i++)
        free(filter->patterns[i]);
    free(filter->patterns);
    filter->patterns = NULL;
    filter->count = 0;
}

static void add_filter_pattern(struct loader *l, const struct config_node *item,
                               const char *path, struct config_event_filter *out)
{
    char *text = list_item(l, item, path, "event type");
    if (text == NULL)
        return;
    if (config_event_pattern_valid(text)) {
        out->patterns[out->count++] = text;
        return;
    }
    char quoted[ECHO_MAX + 16];
    quote_value(text, quoted, sizeof quoted);
    const char *suggestion = config_suggest(text, config_event_patterns());
    if (suggestion != NULL)
        report(l, item, path, "unknown event type %s; did you mean \"%s\"?", quoted,
               suggestion);
    else
        report(l, item, path,
               "unknown event type %s; expected a type like campaign.state_changed, "
               "a family like alert.* or *",
               quoted);
    free(text);
}

/* events: a list of patterns, or one pattern as a plain string. */
static void read_event_filter(struct loader *l, const struct config_node *map,
                              const char *parent, struct config_event_filter *out)
{
    const struct config_node *node = config_tree_get(map, "events");
    if (node == NULL)
        return;
    char path[PATH_MAX_LEN];
    path_key(path, parent, "events");
    filter_free(out);
    if (node->kind == CONFIG_NODE_SCALAR && !config_tree_is_null(node)) {
        out->patterns = xcalloc(1, sizeof *out->patterns);
        add_filter_pattern(l, node, path, out);
        return;
    }
    if (node->kind != CONFIG_NODE_SEQUENCE) {
        report(l, node, path, "expected a list of event types, got %s",
               config_tree_kind_name(node));
        return;
    }
    if (node->count == 0) {
        report(l, node, path,
               "expected at least one event type (leave events out to receive every event)");
        return;
    }
    out->patterns = xcalloc(node->count, sizeof *out->patterns);
    for (size_t i = 0; i < node->count; i++) {
        char item_path[PATH_MAX_LEN];
        path_index(item_path, path, i);
        add_filter_pattern(l, node->items[i], item_path, out);
    }
}

/* ------------------------------------------------------------------------------- */
/* Defaults */

static const struct {
    const char *raw;
    enum lifecycle_state state;
} default_status_map[] = {
    {"on", LC_RUNNING},          {"off", LC_STOPPED},      {"stopping", LC_STOPPING},
    {"complete", LC_COMPLETE},   {"invalid", LC_FAILED},   {"forced_off", LC_STOPPED},
    {"forced_stopping", LC_STOPPING},
};

static const int64_t default_tolerance_ms[CONFIG_MODE_COUNT] = {
    [CONFIG_MODE_PREDICTIVE] = 180000, [CONFIG_MODE_PROGRESSIVE] = 60000,
    [CONFIG_MODE_POWER] = 60000,       [CONFIG_MODE_PREVIEW] = 60000,
    [CONFIG_MODE_AGENTLESS] = 120000,  [CONFIG_MODE_EXTERNAL] = 300000,
    [CONFIG_MODE_UNKNOWN] = 300000,
};

static void status_map_free(struct config_lifecycle *lifecycle)
{
    for (size_t i = 0; i < lifecycle->status_map_count; i++)
        free(lifecycle->status_map[i].raw);
    free(lifecycle->status_map);
    lifecycle->status_map = NULL;
    lifecycle->status_map_count = 0;
}

static void set_defaults(struct relay_config *cfg)
{
    struct config_platform *p = &cfg->platform;
    p->rest_budget_per_minute = 240;
    p->request_timeout_ms = 10000;
    p->token_refresh_margin_ms = 60000;

    struct config_subscriptions *s = &cfg->subscriptions;
    s->all_campaigns = true;
    s->topics = CONFIG_TOPIC_ALL;
    s->rediscover_interval_ms = 5 * 60000;
    s->max_topics_per_channel = 1000;
    s->max_channels = 20;

    struct config_stream *st = &cfg->stream;
    st->heartbeat_timeout_ms = 60000;
    st->ping_interval_ms = 20000;
    st->max_frame_bytes = 1024 * 1024;
    st->reconnect_min_ms = 1000;
    st->reconnect_max_ms = 60000;
    st->healthy_after_ms = 30000;
    st->channel_refresh_ms = 23LL * 3600 * 1000;

    struct config_lifecycle *lc = &cfg->lifecycle;
    size_t n = sizeof default_status_map / sizeof default_status_map[0];
    lc->status_map = xcalloc(n, sizeof *lc->status_map);
    for (size_t i = 0; i < n; i++) {
        lc->status_map[i].raw = xstrdup(default_status_map[i].raw);
        lc->status_map[i].state = default_status_map[i].state;
    }
    lc->status_map_count = n;
    memcpy(lc->tolerance_ms, default_tolerance_ms, sizeof lc->tolerance_ms);
    lc->active_limit = 50;
    lc->active_warn = 45;

    cfg->events.type_prefix = xstrdup("cx.outbound.");
    cfg->events.stats_min_interval_ms = 10000;

    cfg->outbox.path = xstrdup("./campaign-relay.db");
    cfg->outbox.max_bytes = 1024LL * 1024 * 1024;
    cfg->outbox.high_water = 0.8;
    cfg->outbox.commit_interval_ms = 20;
    cfg->outbox.commit_max_events = 1000;

    cfg->admin.listen = xstrdup("127.0.0.1:9464");
    cfg->admin.listen_host = xstrdup("127.0.0.1");
    cfg->admin.listen_port = 9464;

    cfg->control.max_concurrent_per_dialer = 2;
    cfg->control.max_lines_utilization = 0.9;
    cfg->control.max_put_retries = 3;

    cfg->log.level = LOG_INFO;
    cfg->log.format = LOG_FORMAT_LOGFMT;

    cfg->shutdown.grace_ms = 10000;
}

static void kafka_defaults(struct config_kafka *k)
{
    k->topic_state = xstrdup("campaign-relay.state");
    k->topic_alerts = xstrdup("campaign-relay.alerts");
    k->topic_audit = xstrdup("campaign-relay.audit");
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

/* ------------------------------------------------------------------------------- */
/* Sections */

static void strip_trailing_slashes(char *url)
{
    size_t len = strlen(url);
    while (len > 0 && url[len - 1] == '/')
        url[--len] = '\0';
}

/* Reads an http(s) URL; copies its host into host when given. */
static char *read_url(struct loader *l, const struct config_node *map, const char *parent,
                      const char *key, char *host, size_t host_size)
{
    const struct config_node *node = config_tree_get(map, key);
    if (node == NULL)
        return NULL;
    char path[PATH_MAX_LEN];
    path_key(path, parent, key);
    char *url = scalar_text(l, node, path, "an http:// or https:// URL");
    if (url == NULL)
        return NULL;
    char host_buf[256];
    char err[160];
    if (!config_url_check(url, host_buf, sizeof host_buf, err, sizeof err)) {
        char quoted[ECHO_MAX + 16];
        quote_value(url, quoted, sizeof quoted);
        report(l, node, path, "%s, got %s", err, quoted);
        free(url);
        return NULL;
    }
    if (host != NULL)
        snprintf(host, host_size, "%s", host_buf);
    strip_trailing_slashes(url);
    return url;
}

static void missing(struct loader *l, const struct config_node *where, const char *path,
                    const char *key)
{
    report(l, where, path, "missing required key \"%s\"", key);
}

static void load_platform(struct loader *l, const struct config_node *root)
{
    static const char *const known[] = {
        "region", "api_url", "login_url", "client_id", "client_secret", "client_secret_file",
        "rest_budget_per_minute", "request_timeout", "token_refresh_margin", NULL,
    };
    struct config_platform *p = &l->cfg->platform;
    const struct config_node *sec = section(l, root, "", "platform");
    if (sec == NULL) {
        if (config_tree_get(root, "platform") == NULL)
            report(l, root, "", "missing required section \"platform\" (region or api_url "
                                "and login_url, client_id, client_secret)");
        return;
    }
    const char *path = "platform";
    check_keys(l, sec, path, known);

    const struct config_node *region = config_tree_get(sec, "region");
    const struct config_node *api = config_tree_get(sec, "api_url");
    const struct config_node *login = config_tree_get(sec, "login_url");
    char host[256] = "";
    if (region != NULL && (api != NULL || login != NULL)) {
        report(l, region, "platform.region",
               "give either region or api_url and login_url, not both");
    } else if (region != NULL) {
        char *name = scalar_text(l, region, "platform.region", "a region such as us_east_1");
        const struct config_region *found = name != NULL ? config_region_find(name) : NULL;
        if (name != NULL && found == NULL) {
            char quoted[ECHO_MAX + 16];
            quote_value(name, quoted, sizeof quoted);
            const char *suggestion = config_suggest(name, config_region_keys());
            if (suggestion != NULL) {
                report(l, region, "platform.region", "unknown region %s; did you mean \"%s\"?",
                       quoted, suggestion);
            } else {
                struct strbuf all;
                strbuf_init(&all);
                for (const char *const *k = config_region_keys(); *k != NULL; k++)
                    strbuf_appendf(&all, "%s%s", all.len ? ", " : "", *k);
                report(l, region, "platform.region", "unknown region %s; expected one of %s",
                       quoted, strbuf_cstr(&all));
                strbuf_free(&all);
            }
        }
        if (found != NULL) {
            p->region = xstrdup(found->key);
            struct strbuf url;
            strbuf_init(&url);
            strbuf_appendf(&url, "https://api.%s", found->domain);
            p->api_url = strbuf_detach(&url);
            strbuf_appendf(&url, "https://login.%s", found->domain);
            p->login_url = strbuf_detach(&url);
            snprintf(host, sizeof host, "%s", found->domain);
        }
        free(name);
    } else if (api != NULL || login != NULL) {
        p->api_url = read_url(l, sec, path, "api_url", host, sizeof host);
        p->login_url = read_url(l, sec, path, "login_url", NULL, 0);
        if (api == NULL)
            report(l, login, "platform.login_url",
                   "api_url and login_url must be given together");
        if (login == NULL)
            report(l, api, "platform.api_url", "api_url and login_url must be given together");
        if (strncmp(host, "api.", 4) == 0)
            memmove(host, host + 4, strlen(host + 4) + 1);
    } else {
        report(l, sec, path, "missing required key \"region\" (or \"api_url\" and \"login_url\")");
    }
    if (host[0] != '\0' && l->cfg->events.source_domain == NULL)
        l->cfg->events.source_domain = xstrdup(host);

    read_string(l, sec, path, "client_id", false, &p->client_id);
    if (config_tree_get(sec, "client_id") == NULL)
        missing(l, sec, path, "client_id");
    bool failed = false;
    p->client_secret = read_secret(l, sec, path, "client_secret", &failed);
    if (p->client_secret == NULL && !failed)
        report(l, sec, path, "missing required key \"client_secret\" (or \"client_secret_file\")");
    read_int(l, sec, path, "rest_budget_per_minute", 1, 300, &p->rest_budget_per_minute);
    read_duration(l, sec, path, "request_timeout", 1, &p->request_timeout_ms);
    read_duration(l, sec, path, "token_refresh_margin", 0, &p->token_refresh_margin_ms);
}

static void load_subscriptions(struct loader *l, const struct config_node *root)
{
    static const char *const known[] = {
        "campaigns", "topics", "rediscover_interval", "max_topics_per_channel", "max_channels",
        NULL,
    };
    static const char *const selector_keys[] = {"ids", "divisions", "name_prefix", NULL};
    static const char *const topic_names[] = {"campaign", "progress", "stats", "importstatus",
                                              NULL};
    struct config_subscriptions *s = &l->cfg->subscriptions;
    const struct config_node *sec = section(l, root, "", "subscriptions");
    if (sec == NULL)
        return;
    const char *path = "subscriptions";
    check_keys(l, sec, path, known);

    const struct config_node *campaigns = config_tree_get(sec, "campaigns");
    if (campaigns != NULL && campaigns->kind == CONFIG_NODE_MAPPING) {
        const char *cpath = "subscriptions.campaigns";
        check_keys(l, campaigns, cpath, selector_keys);
        const struct config_node *ids = config_tree_get(campaigns, "ids");
        const struct config_node *divisions = config_tree_get(campaigns, "divisions");
        if (ids != NULL)
            read_string_list(l, ids, "subscriptions.campaigns.ids", "campaign id", false,
                             &s->campaign_ids);
        if (divisions != NULL)
            read_string_list(l, divisions, "subscriptions.campaigns.divisions", "division id",
                             false, &s->divisions);
        read_string(l, campaigns, cpath, "name_prefix", false, &s->name_prefix);
        if (ids == NULL && divisions == NULL && config_tree_get(campaigns, "name_prefix") == NULL)
            report(l, campaigns, cpath, "expected at least one of ids, divisions, name_prefix");
        else
            s->all_campaigns = false;
    } else if (campaigns != NULL) {
        char *text = scalar_text(l, campaigns, "subscriptions.campaigns",
                                 "\"all\" or a mapping with ids, divisions or name_prefix");
        if (text != NULL && strcmp(text, "all") != 0) {
            char quoted[ECHO_MAX + 16];
            quote_value(text, quoted, sizeof quoted);
            report(l, campaigns, "subscriptions.campaigns",
                   "expected \"all\" or a mapping with ids, divisions or name_prefix, got %s",
                   quoted);
        }
        free(text);
    }

    const struct config_node *topics = config_tree_get(sec, "topics");
    const char *tpath = "subscriptions.topics";
    if (topics != NULL && topics->kind != CONFIG_NODE_SEQUENCE) {
        report(l, topics, tpath, "expected a list of topics, got %s",
               config_tree_kind_name(topics));
    } else if (topics != NULL && topics->count == 0) {
        report(l, topics, tpath,
               "expected at least one of campaign, progress, stats, importstatus");
    } else if (topics != NULL) {
        unsigned bits = 0;
        for (size_t i = 0; i < topics->count; i++) {
            char item_path[PATH_MAX_LEN];
            path_index(item_path, tpath, i);
            char *name = list_item(l, topics->items[i], item_path, "topic");
            if (name == NULL)
                continue;
            int found = -1;
            for (int t = 0; topic_names[t] != NULL; t++)
                if (strcmp(name, topic_names[t]) == 0)
                    found = t;
            if (found >= 0) {
                bits |= 1u << found;
            } else {
                char quoted[ECHO_MAX + 16];
                quote_value(name, quoted, sizeof quoted);
                const char *suggestion = config_suggest(name, topic_names);
                report(l, topics->items[i], item_path,
                       "unknown topic %s%s%s%s; expected campaign, progress, stats or "
                       "importstatus",
                       quoted, suggestion ? " (did you mean \"" : "",
                       suggestion ? suggestion : "", suggestion ? "\"?)" : "");
            }
            free(name);
        }
        if (bits != 0)
            s->topics = bits;
    }
    read_duration(l, sec, path, "rediscover_interval", 1000, &s->rediscover_interval_ms);
    read_int(l, sec, path, "max_topics_per_channel", 1, 1000, &s->max_topics_per_channel);
    read_int(l, sec, path, "max_channels", 1, 20, &s->max_channels);
}

/* The node to point at for a cross-key check: the key if given, else its section. */
static const struct config_node *node_or(const struct config_node *sec, const char *key)
{
    const struct config_node *node = config_tree_get(sec, key);
    return node != NULL ? node : sec;
}

static void load_stream(struct loader *l, const struct config_node *root)
{
    static const char *const known[] = {
        "heartbeat_timeout", "ping_interval", "max_frame_bytes", "reconnect_min",
        "reconnect_max", "healthy_after", "channel_refresh", NULL,
    };
    struct config_stream *st = &l->cfg->stream;
    const struct config_node *sec = section(l, root, "", "stream");
    if (sec == NULL)
        return;
    const char *path = "stream";
    check_keys(l, sec, path, known);
    read_duration(l, sec, path, "heartbeat_timeout", 1, &st->heartbeat_timeout_ms);
    read_duration(l, sec, path, "ping_interval", 1, &st->ping_interval_ms);
    read_size(l, sec, path, "max_frame_bytes", 1024, &st->max_frame_bytes);
    read_duration(l, sec, path, "reconnect_min", 1, &st->reconnect_min_ms);
    read_duration(l, sec, path, "reconnect_max", 1, &st->reconnect_max_ms);
    read_duration(l, sec, path, "healthy_after", 0, &st->healthy_after_ms);
    read_duration(l, sec, path, "channel_refresh", 60000, &st->channel_refresh_ms);
    if (st->ping_interval_ms >= st->heartbeat_timeout_ms)
        report(l, node_or(sec, "ping_interval"), "stream.ping_interval",
               "must be shorter than stream.heartbeat_timeout, or a quiet socket is "
               "declared dead before it is pinged");
    if (st->reconnect_min_ms > st->reconnect_max_ms)
        report(l, node_or(sec, "reconnect_min"), "stream.reconnect_min",
               "must not be longer than stream.reconnect_max");
    if (st->channel_refresh_ms >= 24LL * 3600 * 1000)
        report(l, node_or(sec, "channel_refresh"), "stream.channel_refresh",
               "must be shorter than 24h: the platform expires channels after 24 hours");
}

static const char *const state_names[] = {
    "UNKNOWN", "STOPPED", "STARTING", "RUNNING", "PAUSING",
    "PAUSED", "STOPPING", "COMPLETE", "FAILED", NULL,
};

static const char *const mode_names[CONFIG_MODE_COUNT + 1] = {
    "predictive", "progressive", "power", "preview", "agentless", "external", "unknown", NULL,
};

static void load_status_map(struct loader *l, const struct config_node *node)
{
    const char *path = "lifecycle.status_map";
    if (node->kind != CONFIG_NODE_MAPPING) {
        report(l, node, path, "expected a mapping of campaignStatus to state, got %s",
               config_tree_kind_name(node));
        return;
    }
    if (node->count == 0) {
        report(l, node, path, "expected at least one campaignStatus (leave status_map out "
                              "for the default table)");
        return;
    }
    check_keys(l, node, path, NULL);
    struct config_status_entry *entries = xcalloc(node->count, sizeof *entries);
    size_t count = 0;
    bool ok = true;
    for (size_t i = 0; i < node->count; i++) {
        const struct config_node *key = node->pairs[i].key;
        const struct config_node *value = node->pairs[i].value;
        char entry_path[PATH_MAX_LEN];
        path_key(entry_path, path, key->scalar);
        char *name = scalar_text(l, value, entry_path, "a lifecycle state such as RUNNING");
        if (name == NULL) {
            ok = false;
            continue;
        }
        int state = lifecycle_state_parse(name);
        if (state < 0) {
            char upper[64];
            size_t n = 0;
            for (; name[n] != '\0' && n < sizeof upper - 1; n++)
                upper[n] = (char)toupper((unsigned char)name[n]);
            upper[n] = '\0';
            const char *suggestion = config_suggest(upper, state_names);
            char quoted[ECHO_MAX + 16];
            quote_value(name, quoted, sizeof quoted);
            report(l, value, entry_path,
                   "unknown lifecycle state %s%s%s%s; expected one of STOPPED, STARTING, "
                   "RUNNING, PAUSING, PAUSED, STOPPING, COMPLETE, FAILED, UNKNOWN",
                   quoted, suggestion ? " (did you mean \"" : "", suggestion ? suggestion : "",
                   suggestion ? "\"?)" : "");
            ok = false;
        } else {
            entries[count].raw = xstrdup(key->scalar);
            entries[count].state = (enum lifecycle_state)state;
            count++;
        }
        free(name);
    }
    struct config_lifecycle replaced = {.status_map = entries, .status_map_count = count};
    if (!ok) {
        status_map_free(&replaced);
        return;
    }
    status_map_free(&l->cfg->lifecycle);
    l->cfg->lifecycle.status_map = entries;
    l->cfg->lifecycle.status_map_count = count;
}

static void load_tolerance(struct loader *l, const struct config_node *node)
{
    const char *path = "lifecycle.tolerance";
    if (node->kind != CONFIG_NODE_MAPPING) {
        if (!config_tree_is_null(node))
            report(l, node, path, "expected a mapping of dialing mode to duration, got %s",
                   config_tree_kind_name(node));
        return;
    }
    check_keys(l, node, path, NULL);
    for (size_t i = 0; i < node->count; i++) {
        const struct config_node *key = node->pairs[i].key;
        int mode = -1;
        for (int m = 0; m < CONFIG_MODE_COUNT; m++)
            if (strcmp(key->scalar, mode_names[m]) == 0)
                mode = m;
        char key_path[PATH_MAX_LEN];
        path_key(key_path, path, key->scalar);
        if (mode < 0) {
            const char *suggestion = config_suggest(key->scalar, mode_names);
            report(l, key, key_path,
                   "unknown dialing mode%s%s%s; expected predictive, progressive, power, "
                   "preview, agentless, external or unknown",
                   suggestion ? " (did you mean \"" : "", suggestion ? suggestion : "",
                   suggestion ? "\"?)" : "");
            continue;
        }
        read_duration(l, node, path, key->scalar, 1000, &l->cfg->lifecycle.tolerance_ms[mode]);
    }
}

static void load_lifecycle(struct loader *l, const struct config_node *root)
{
    static const char *const known[] = {"status_map", "tolerance", "active_limit",
                                        "active_warn", NULL};
    struct config_lifecycle *lc = &l->cfg->lifecycle;
    const struct config_node *sec = section(l, root, "", "lifecycle");
    if (sec == NULL)
        return;
    const char *path = "lifecycle";
    check_keys(l, sec, path, known);
    const struct config_node *status_map = config_tree_get(sec, "status_map");
    if (status_map != NULL)
        load_status_map(l, status_map);
    const struct config_node *tolerance = config_tree_get(sec, "tolerance");
    if (tolerance != NULL)
        load_tolerance(l, tolerance);
    read_int(l, sec, path, "active_limit", 1, 100000, &lc->active_limit);
    read_int(l, sec, path, "active_warn", 1, 100000, &lc->active_warn);
    if (lc->active_warn > lc->active_limit)
        report(l, node_or(sec, "active_warn"), "lifecycle.active_warn",
               "must not be above lifecycle.active_limit (%d)", lc->active_limit);
}

static bool has_space_or_control(const char *text)
{
    for (const char *p = text; *p != '\0'; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return true;
    return false;
}

static void load_events(struct loader *l, const struct config_node *root)
{
    static const char *const known[] = {"type_prefix", "source_domain", "stats_min_interval",
                                        NULL};
    struct config_events *e = &l->cfg->events;
    const struct config_node *sec = section(l, root, "", "events");
    if (sec == NULL)
        return;
    const char *path = "events";
    check_keys(l, sec, path, known);
    read_string(l, sec, path, "type_prefix", true, &e->type_prefix);
    if (has_space_or_control(e->type_prefix))
        report(l, node_or(sec, "type_prefix"), "events.type_prefix",
               "must not contain spaces or control characters");
    char *domain = NULL;
    read_string(l, sec, path, "source_domain", false, &domain);
    if (domain != NULL) {
        if (has_space_or_control(domain) || strchr(domain, '/') != NULL)
            report(l, node_or(sec, "source_domain"), "events.source_domain",
                   "expected a host name without spaces or '/'");
        replace_string(&e->source_domain, domain);
    }
    read_duration(l, sec, path, "stats_min_interval", 0, &e->stats_min_interval_ms);
}

static void load_outbox(struct loader *l, const struct config_node *root)
{
    static const char *const known[] = {"path", "max_bytes", "high_water", "commit_interval",
                                        "commit_max_events", NULL};
    struct config_outbox *o = &l->cfg->outbox;
    const struct config_node *sec = section(l, root, "", "outbox");
    if (sec == NULL)
        return;
    const char *path = "outbox";
    check_keys(l, sec, path, known);
    read_string(l, sec, path, "path", false, &o->path);
    read_size(l, sec, path, "max_bytes", 64 * 1024, &o->max_bytes);
    read_fraction(l, sec, path, "high_water", 0.0, 1.0, &o->high_water);
    read_duration(l, sec, path, "commit_interval", 0, &o->commit_interval_ms);
    read_int(l, sec, path, "commit_max_events", 1, 1000000, &o->commit_max_events);
}

static bool is_secret_property(const char *key)
{
    return strcasestr(key, "password") != NULL || strcasestr(key, "secret") != NULL;
}

static void pair_list_free(struct config_pair_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i].key);
        free(list->items[i].value);
    }
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

static void load_kafka_properties(struct loader *l, const struct config_node *node,
                                  struct config_pair_list *out)
{
    const char *path = "sinks.kafka.properties";
    if (node->kind != CONFIG_NODE_MAPPING) {
        if (!config_tree_is_null(node))
            report(l, node, path, "expected a mapping of librdkafka property to value, got %s",
                   config_tree_kind_name(node));
        return;
    }
    check_keys(l, node, path, NULL);
    out->items = xcalloc(node->count + 1, sizeof *out->items);
    for (size_t i = 0; i < node->count; i++) {
        const struct config_node *key = node->pairs[i].key;
        const struct config_node *value = node->pairs[i].value;
        char prop_path[PATH_MAX_LEN];
        path_key(prop_path, path, key->scalar);
        if (strcmp(key->scalar, "bootstrap.servers") == 0 ||
            strcmp(key->scalar, "metadata.broker.list") == 0) {
            report(l, key, prop_path, "set the brokers with sinks.kafka.brokers");
            continue;
        }
        size_t key_len = strlen(key->scalar);
        bool from_file = key_len > 5 && strcmp(key->scalar + key_len - 5, "_file") == 0;
        char base[256];
        snprintf(base, sizeof base, "%.*s", (int)(from_file ? key_len - 5 : key_len),
                 key->scalar);
        if (from_file && !is_secret_property(base))
            from_file = false;
        if (from_file) {
            snprintf(base, sizeof base, "%.*s", (int)(key_len - 5), key->scalar);
            /* read_secret reports "both given" and reads the file. */
            bool failed = false;
            char *secret = read_secret(l, node, path, base, &failed);
            if (secret != NULL) {
                out->items[out->count].key = xstrdup(base);
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
        char *text = scalar_text(l, value, prop_path, "a string");
        if (text == NULL)
            continue;
        out->items[out->count].key = xstrdup(key->scalar);
        out->items[out->count].value = text;
        out->items[out->count].secret = secret;
        out->count++;
    }
}

static void load_kafka(struct loader *l, const struct config_node *sinks)
{
    static const char *const known[] = {"brokers", "topics", "properties", "events", NULL};
    static const char *const topic_keys[] = {"state", "alerts", "audit", NULL};
    struct config_kafka *k = &l->cfg->sinks.kafka;
    const struct config_node *sec = section(l, sinks, "sinks", "kafka");
    if (sec == NULL)
        return;
    const char *path = "sinks.kafka";
    k->enabled = true;
    kafka_defaults(k);
    check_keys(l, sec, path, known);
    read_string(l, sec, path, "brokers", false, &k->brokers);
    if (config_tree_get(sec, "brokers") == NULL)
        missing(l, sec, path, "brokers");
    const struct config_node *topics = section(l, sec, path, "topics");
    if (topics != NULL) {
        check_keys(l, topics, "sinks.kafka.topics", topic_keys);
        read_string(l, topics, "sinks.kafka.topics", "state", false, &k->topic_state);
        read_string(l, topics, "sinks.kafka.topics", "alerts", false, &k->topic_alerts);
        read_string(l, topics, "sinks.kafka.topics", "audit", false, &k->topic_audit);
    }
    const struct config_node *properties = config_tree_get(sec, "properties");
    if (properties != NULL)
        load_kafka_properties(l, properties, &k->properties);
    read_event_filter(l, sec, path, &k->events);
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
static void load_webhook_secrets(struct loader *l, const struct config_node *map,
                                 const char *parent, struct config_string_list *out)
{
    const struct config_node *direct = config_tree_get(map, "secret");
    const struct config_node *file = config_tree_get(map, "secret_file");
    char path[PATH_MAX_LEN];
    if (direct != NULL && file != NULL) {
        path_key(path, parent, "secret_file");
        report(l, file, path, "give either secret or secret_file, not both");
        return;
    }
    const struct config_node *node = direct != NULL ? direct : file;
    if (node == NULL)
        return;
    path_key(path, parent, direct != NULL ? "secret" : "secret_file");
    bool is_list = node->kind == CONFIG_NODE_SEQUENCE;
    if (!is_list && (node->kind != CONFIG_NODE_SCALAR || config_tree_is_null(node))) {
        report(l, node, path, "expected a string or a list of strings, got %s",
               config_tree_kind_name(node));
        return;
    }
    if (is_list && node->count == 0) {
        report(l, node, path, "expected at least one secret");
        return;
    }
    size_t count = is_list ? node->count : 1;
    out->items = xcalloc(count, sizeof *out->items);
    for (size_t i = 0; i < count; i++) {
        const struct config_node *item = is_list ? node->items[i] : node;
        char item_path[PATH_MAX_LEN];
        if (is_list)
            path_index(item_path, path, i);
        else
            snprintf(item_path, sizeof item_path, "%s", path);
        char *text = scalar_text(l, item, item_path,
                                 direct != NULL ? "a string (the key, or ${VAR})" : "a file path");
        if (text == NULL)
            continue;
        if (file != NULL) {
            char *secret = read_secret_file(l, item, item_path, text);
            free(text);
            text = secret;
            if (text == NULL)
                continue;
        }
        if (!is_webhook_key(text)) {
            report(l, item, item_path,
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
    return strcasecmp(name, "authorization") == 0 ||
           strcasecmp(name, "proxy-authorization") == 0 || strcasecmp(name, "cookie") == 0 ||
           strcasestr(name, "token") != NULL || strcasestr(name, "secret") != NULL ||
           strcasestr(name, "key") != NULL || strcasestr(name, "password") != NULL;
}

static void load_webhook_headers(struct loader *l, const struct config_node *node,
                                 const char *path, struct config_pair_list *out)
{
    static const char *const reserved[] = {"content-type", "content-length", "host",
                                           "webhook-id", "webhook-timestamp",
                                           "webhook-signature", NULL};
    if (node->kind != CONFIG_NODE_MAPPING) {
        if (!config_tree_is_null(node))
            report(l, node, path, "expected a mapping of header name to value, got %s",
                   config_tree_kind_name(node));
        return;
    }
    check_keys(l, node, path, NULL);
    out->items = xcalloc(node->count + 1, sizeof *out->items);
    for (size_t i = 0; i < node->count; i++) {
        const struct config_node *key = node->pairs[i].key;
        char header_path[PATH_MAX_LEN];
        path_key(header_path, path, key->scalar);
        bool valid_name = key->scalar[0] != '\0';
        for (const char *p = key->scalar; *p != '\0'; p++)
            valid_name = valid_name && is_token_char(*p);
        if (!valid_name) {
            report(l, key, header_path, "not a valid HTTP header name");
            continue;
        }
        bool is_reserved = false;
        for (size_t r = 0; reserved[r] != NULL; r++)
            is_reserved = is_reserved || strcasecmp(key->scalar, reserved[r]) == 0;
        if (is_reserved) {
            report(l, key, header_path, "this header is set by the relay");
            continue;
        }
        char *value = scalar_text(l, node->pairs[i].value, header_path, "a string");
        if (value == NULL)
            continue;
        if (strpbrk(value, "\r\n") != NULL) {
            report(l, node->pairs[i].value, header_path,
                   "a header value must not contain line breaks");
            free(value);
            continue;
        }
        out->items[out->count].key = xstrdup(key->scalar);
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

static void load_webhook(struct loader *l, const struct config_node *node, const char *path,
                         struct config_webhook *w)
{
    static const char *const known[] = {
        "name", "url", "secret", "secret_file", "events", "timeout", "max_attempts",
        "concurrency", "backoff_min", "backoff_max", "headers", NULL,
    };
    webhook_defaults(w);
    if (node->kind != CONFIG_NODE_MAPPING) {
        report(l, node, path, "expected a mapping with name, url and other webhook settings, "
                              "got %s", config_tree_kind_name(node));
        return;
    }
    check_keys(l, node, path, known);
    read_string(l, node, path, "name", false, &w->name);
    char name_path[PATH_MAX_LEN];
    path_key(name_path, path, "name");
    if (config_tree_get(node, "name") == NULL) {
        missing(l, node, path, "name");
    } else if (w->name != NULL && !is_valid_sink_name(w->name)) {
        char quoted[ECHO_MAX + 16];
        quote_value(w->name, quoted, sizeof quoted);
        report(l, config_tree_get(node, "name"), name_path,
               "expected a name of letters, digits, '_', '-' and '.' (at most 64), got %s",
               quoted);
    }
    w->url = read_url(l, node, path, "url", NULL, 0);
    if (config_tree_get(node, "url") == NULL)
        missing(l, node, path, "url");
    load_webhook_secrets(l, node, path, &w->secrets);
    read_event_filter(l, node, path, &w->events);
    read_duration(l, node, path, "timeout", 1, &w->timeout_ms);
    read_int(l, node, path, "max_attempts", 1, 1000, &w->max_attempts);
    read_int(l, node, path, "concurrency", 1, 64, &w->concurrency);
    read_duration(l, node, path, "backoff_min", 1, &w->backoff_min_ms);
    read_duration(l, node, path, "backoff_max", 1, &w->backoff_max_ms);
    if (w->backoff_min_ms > w->backoff_max_ms) {
        char min_path[PATH_MAX_LEN];
        path_key(min_path, path, "backoff_min");
        report(l, node_or(node, "backoff_min"), min_path, "must not be longer than backoff_max");
    }
    const struct config_node *headers = config_tree_get(node, "headers");
    if (headers != NULL) {
        char headers_path[PATH_MAX_LEN];
        path_key(headers_path, path, "headers");
        load_webhook_headers(l, headers, headers_path, &w->headers);
    }
}

static void load_webhooks(struct loader *l, const struct config_node *sinks)
{
    const struct config_node *node = config_tree_get(sinks, "webhooks");
    const char *path = "sinks.webhooks";
    if (node == NULL || config_tree_is_null(node))
        return;
    if (node->kind != CONFIG_NODE_SEQUENCE) {
        report(l, node, path, "expected a list of webhooks, got %s",
               config_tree_kind_name(node));
        return;
    }
    struct config_sinks *s = &l->cfg->sinks;
    s->webhooks = xcalloc(node->count + 1, sizeof *s->webhooks);
    s->webhook_count = node->count;
    for (size_t i = 0; i < node->count; i++) {
        char item_path[PATH_MAX_LEN];
        path_index(item_path, path, i);
        load_webhook(l, node->items[i], item_path, &s->webhooks[i]);
        for (size_t j = 0; j < i; j++) {
            if (s->webhooks[i].name != NULL && s->webhooks[j].name != NULL &&
                strcmp(s->webhooks[i].name, s->webhooks[j].name) == 0) {
                char name_path[PATH_MAX_LEN];
                path_key(name_path, item_path, "name");
                report(l, node_or(node->items[i], "name"), name_path,
                       "duplicate webhook name (also used by %s[%zu])", path, j);
                break;
            }
        }
    }
}

static void load_file_sink(struct loader *l, const struct config_node *sinks)
{
    static const char *const known[] = {"path", "max_bytes", "max_files", "events", NULL};
    struct config_file_sink *f = &l->cfg->sinks.file;
    const struct config_node *sec = section(l, sinks, "sinks", "file");
    if (sec == NULL)
        return;
    const char *path = "sinks.file";
    f->enabled = true;
    file_sink_defaults(f);
    check_keys(l, sec, path, known);
    read_string(l, sec, path, "path", false, &f->path);
    if (config_tree_get(sec, "path") == NULL)
        missing(l, sec, path, "path");
    read_size(l, sec, path, "max_bytes", 1024, &f->max_bytes);
    read_int(l, sec, path, "max_files", 1, 1000, &f->max_files);
    read_event_filter(l, sec, path, &f->events);
}

static void load_sinks(struct loader *l, const struct config_node *root)
{
    static const char *const known[] = {"kafka", "webhooks", "file", NULL};
    const struct config_node *sec = section(l, root, "", "sinks");
    if (sec == NULL)
        return;
    check_keys(l, sec, "sinks", known);
    load_kafka(l, sec);
    load_webhooks(l, sec);
    load_file_sink(l, sec);
}

static void load_admin(struct loader *l, const struct config_node *root)
{
    static const char *const known[] = {"listen", "bearer_token", "bearer_token_file", NULL};
    struct config_admin *a = &l->cfg->admin;
    const struct config_node *sec = section(l, root, "", "admin");
    if (sec == NULL)
        return;
    const char *path = "admin";
    check_keys(l, sec, path, known);
    const struct config_node *listen = config_tree_get(sec, "listen");
    if (listen != NULL) {
        char *text = scalar_text(l, listen, "admin.listen", "host:port");
        char host[256];
        char err[128];
        int port = 0;
        if (text != NULL && config_hostport_parse(text, host, sizeof host, &port, err,
                                                  sizeof err)) {
            replace_string(&a->listen, text);
            replace_string(&a->listen_host, xstrdup(host));
            a->listen_port = port;
        } else if (text != NULL) {
            char quoted[ECHO_MAX + 16];
            quote_value(text, quoted, sizeof quoted);
            report(l, listen, "admin.listen", "%s, got %s", err, quoted);
            free(text);
        }
    }
    bool failed = false;
    a->bearer_token = read_secret(l, sec, path, "bearer_token", &failed);
}

static void load_control(struct loader *l, const struct config_node *root)
{
    static const char *const known[] = {"max_concurrent_per_dialer", "max_lines_utilization",
                                        "max_put_retries", NULL};
    struct config_control *c = &l->cfg->control;
    const struct config_node *sec = section(l, root, "", "control");
    if (sec == NULL)
        return;
    const char *path = "control";
    check_keys(l, sec, path, known);
    read_int(l, sec, path, "max_concurrent_per_dialer", 1, 1000, &c->max_concurrent_per_dialer);
    read_fraction(l, sec, path, "max_lines_utilization", 0.0, 1.0, &c->max_lines_utilization);
    read_int(l, sec, path, "max_put_retries", 0, 100, &c->max_put_retries);
}

static void load_log(struct loader *l, const struct config_node *root)
{
    static const char *const known[] = {"level", "format", NULL};
    static const char *const levels[] = {"error", "warn", "info", "debug", NULL};
    static const char *const formats[] = {"logfmt", "json", NULL};
    const struct config_node *sec = section(l, root, "", "log");
    if (sec == NULL)
        return;
    check_keys(l, sec, "log", known);
    const struct config_node *level = config_tree_get(sec, "level");
    if (level != NULL) {
        char *text = scalar_text(l, level, "log.level", "a log level");
        int parsed = text != NULL ? log_level_parse(text) : -1;
        if (parsed >= 0) {
            l->cfg->log.level = (enum log_level)parsed;
        } else if (text != NULL) {
            char quoted[ECHO_MAX + 16];
            quote_value(text, quoted, sizeof quoted);
            const char *suggestion = config_suggest(text, levels);
            report(l, level, "log.level", "unknown log level %s%s%s%s; expected error, warn, "
                   "info or debug", quoted, suggestion ? " (did you mean \"" : "",
                   suggestion ? suggestion : "", suggestion ? "\"?)" : "");
        }
        free(text);
    }
    const struct config_node *format = config_tree_get(sec, "format");
    if (format != NULL) {
        char *text = scalar_text(l, format, "log.format", "logfmt or json");
        if (text != NULL && strcmp(text, "logfmt") == 0) {
            l->cfg->log.format = LOG_FORMAT_LOGFMT;
        } else if (text != NULL && strcmp(text, "json") == 0) {
            l->cfg->log.format = LOG_FORMAT_JSON;
        } else if (text != NULL) {
            char quoted[ECHO_MAX + 16];
            quote_value(text, quoted, sizeof quoted);
            const char *suggestion = config_suggest(text, formats);
            report(l, format, "log.format", "unknown log format %s%s%s%s; expected logfmt or "
                   "json", quoted, suggestion ? " (did you mean \"" : "",
                   suggestion ? suggestion : "", suggestion ? "\"?)" : "");
        }
        free(text);
    }
}

static void load_shutdown(struct loader *l, const struct config_node *root)
{
    static const char *const known[] = {"grace", NULL};
    const struct config_node *sec = section(l, root, "", "shutdown");
    if (sec == NULL)
        return;
    check_keys(l, sec, "shutdown", known);
    read_duration(l, sec, "shutdown", "grace", 0, &l->cfg->shutdown.grace_ms);
}

/* ------------------------------------------------------------------------------- */
/* Entry points */

struct relay_config *config_load_buffer(const char *name, const char *text, size_t len,
                                        char *errstr, size_t errstr_size)
{
    static const char *const known[] = {
        "platform", "subscriptions", "stream", "lifecycle", "events", "outbox",
        "sinks", "admin", "control", "log", "shutdown", NULL,
    };
    if (errstr != NULL && errstr_size > 0)
        errstr[0] = '\0';
    if (name == NULL)
        name = "<config>";
    struct config_diag diag;
    config_diag_init(&diag, name, MAX_ERRORS);
    struct config_node *root = text != NULL ? config_tree_parse(text, len, &diag) : NULL;
    if (root == NULL) {
        if (diag.count == 0)
            config_diag_add(&diag, 0, 0, NULL, "no configuration text");
        config_diag_copy(&diag, errstr, errstr_size);
        config_diag_free(&diag);
        return NULL;
    }
    struct relay_config *cfg = xcalloc(1, sizeof *cfg);
    cfg->source_name = xstrdup(name);
    set_defaults(cfg);
    struct loader l = {.diag = &diag, .cfg = cfg};
    if (root->kind != CONFIG_NODE_MAPPING) {
        report(&l, root, NULL, "expected a mapping of sections (platform:, sinks:, ...) at the "
                               "top level, got %s", config_tree_kind_name(root));
    } else {
        check_keys(&l, root, "", known);
        /* events first: an explicit source_domain wins over the one platform derives. */
        load_events(&l, root);
        load_platform(&l, root);
        load_subscriptions(&l, root);
        load_stream(&l, root);
        load_lifecycle(&l, root);
        load_outbox(&l, root);
        load_sinks(&l, root);
        load_admin(&l, root);
        load_control(&l, root);
        load_log(&l, root);
        load_shutdown(&l, root);
    }
    config_tree_free(root);
    if (diag.count > 0) {
        config_diag_copy(&diag, errstr, errstr_size);
        config_diag_free(&diag);
        config_destroy(cfg);
        return NULL;
    }
    config_diag_free(&diag);
    return cfg;
}

struct relay_config *config_load_file(const char *path, char *errstr, size_t errstr_size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(errstr, errstr_size, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct strbuf text;
    strbuf_init(&text);
    char chunk[8192];
    size_t n;
    bool too_large = false;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (text.len + n > CONFIG_FILE_MAX) {
            too_large = true;
            break;
        }
        strbuf_append_len(&text, chunk, n);
    }
    int read_error = ferror(f);
    fclose(f);
    if (too_large || read_error) {
        if (too_large)
            snprintf(errstr, errstr_size, "%s: larger than %d bytes; not a configuration file",
                     path, CONFIG_FILE_MAX);
        else
            snprintf(errstr, errstr_size, "%s: read error", path);
        strbuf_free(&text);
        return NULL;
    }
    struct relay_config *cfg =
        config_load_buffer(path, strbuf_cstr(&text), text.len, errstr, errstr_size);
    strbuf_free(&text);
    return cfg;
}

static void webhook_free(struct config_webhook *w)
{
    free(w->name);
    free(w->url);
    string_list_free(&w->secrets);
    filter_free(&w->events);
    pair_list_free(&w->headers);
}

void config_destroy(struct relay_config *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->source_name);
    struct config_platform *p = &cfg->platform;
    free(p->region);
    free(p->api_url);
    free(p->login_url);
    free(p->client_id);
    free(p->client_secret);
    string_list_free(&cfg->subscriptions.campaign_ids);
    string_list_free(&cfg->subscriptions.divisions);
    free(cfg->subscriptions.name_prefix);
    status_map_free(&cfg->lifecycle);
    free(cfg->events.type_prefix);
    free(cfg->events.source_domain);
    free(cfg->outbox.path);
    struct config_kafka *k = &cfg->sinks.kafka;
    free(k->brokers);
    free(k->topic_state);
    free(k->topic_alerts);
    free(k->topic_audit);
    pair_list_free(&k->properties);
    filter_free(&k->events);
    for (size_t i = 0; i < cfg->sinks.webhook_count; i++)
        webhook_free(&cfg->sinks.webhooks[i]);
    free(cfg->sinks.webhooks);
    free(cfg->sinks.file.path);
    filter_free(&cfg->sinks.file.events);
    free(cfg->admin.listen);
    free(cfg->admin.listen_host);
    free(cfg->admin.bearer_token);
    free(cfg);
}

/* ------------------------------------------------------------------------------- */
/* Lookups for the modules that read the configuration */

enum lifecycle_state config_status_lookup(const struct config_lifecycle *lifecycle,
                                          const char *raw_status)
{
    if (lifecycle == NULL || raw_status == NULL)
        return LC_UNKNOWN;
    for (size_t i = 0; i < lifecycle->status_map_count; i++)
        if (strcmp(lifecycle->status_map[i].raw, raw_status) == 0)
            return lifecycle->status_map[i].state;
    return LC_UNKNOWN;
}

const char *config_dialing_mode_name(enum config_dialing_mode mode)
{
    return (unsigned)mode < CONFIG_MODE_COUNT ? mode_names[mode] : "unknown";
}

int config_dialing_mode_parse(const char *text)
{
    if (text == NULL)
        return -1;
    for (int m = 0; m < CONFIG_MODE_COUNT; m++)
        if (strcasecmp(text, mode_names[m]) == 0)
            return m;
    return -1;
}

int64_t config_tolerance_ms(const struct config_lifecycle *lifecycle, const char *dialing_mode)
{
    int mode = config_dialing_mode_parse(dialing_mode);
    if (mode < 0)
        mode = CONFIG_MODE_UNKNOWN;
    return lifecycle->tolerance_ms[mode];
}

static bool list_contains(const struct config_string_list *list, const char *value)
{
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->items[i], value) == 0)
            return true;
    return false;
}

bool config_campaign_selected(const struct config_subscriptions *s, const char *campaign_id,
                              const char *division_id, const char *name)
{
    if (s->all_campaigns)
        return true;
    if (s->campaign_ids.count > 0 && (campaign_id == NULL ||
                                      !list_contains(&s->campaign_ids, campaign_id)))
        return false;
    if (s->divisions.count > 0 && (division_id == NULL ||
                                   !list_contains(&s->divisions, division_id)))
        return false;
    if (s->name_prefix != NULL &&
        (name == NULL || strncmp(name, s->name_prefix, strlen(s->name_prefix)) != 0))
        return false;
    return true;
}
