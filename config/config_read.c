/*
 * The typed value readers shared by the section loaders (see config_read.h).
 */
#include "config/config_read.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config_expand.h"
#include "config/config_filter.h"
#include "config/config_net.h"
#include "config/config_units.h"
#include "util/strbuf.h"

#define SECRET_FILE_MAX (64 * 1024)

char *config_xstrdup(const char *s)
{
    char *copy = strdup(s);
    if (copy == NULL)
        abort();
    return copy;
}

void *config_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count, size);
    if (p == NULL)
        abort();
    return p;
}

void config_replace_string(char **slot, char *value)
{
    free(*slot);
    *slot = value;
}

/* Key paths longer than CONFIG_PATH_MAX (only hostile input has them) end in "...". */
static void mark_truncated(char *out, int written)
{
    if (written < 0 || written >= CONFIG_PATH_MAX)
        memcpy(out + CONFIG_PATH_MAX - 4, "...", 4);
}

void config_path_key(char *out, const char *parent, const char *key)
{
    int written = parent[0] == '\0' ? snprintf(out, CONFIG_PATH_MAX, "%s", key)
                                    : snprintf(out, CONFIG_PATH_MAX, "%s.%s", parent, key);
    mark_truncated(out, written);
}

void config_path_index(char *out, const char *parent, size_t index)
{
    mark_truncated(out, snprintf(out, CONFIG_PATH_MAX, "%s[%zu]", parent, index));
}

void config_report(struct config_loader *l, const struct config_node *node, const char *path,
                   const char *fmt, ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    config_diag_add(l->diag, node != NULL ? node->line : 0, node != NULL ? node->column : 0, path,
                    "%s", message);
}

/* A value quoted for an error message: printable, escaped, and cut short. Only
 * ever called for values that are not secrets. */
void config_quote_value(const char *value, char *buf, size_t size)
{
    struct strbuf sb;
    strbuf_init(&sb);
    strbuf_append_char(&sb, '"');
    size_t shown = 0;
    for (const char *p = value; *p != '\0'; p++, shown++) {
        if (shown == CONFIG_ECHO_MAX) {
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
void config_check_keys(struct config_loader *l, const struct config_node *map, const char *path,
                       const char *const *known)
{
    if (map == NULL || map->kind != CONFIG_NODE_MAPPING)
        return;
    for (size_t i = 0; i < map->count; i++) {
        const struct config_node *key = map->pairs[i].key;
        char key_path[CONFIG_PATH_MAX];
        config_path_key(key_path, path, key->scalar);
        bool duplicate = false;
        for (size_t j = 0; j < i && !duplicate; j++) {
            if (strcmp(map->pairs[j].key->scalar, key->scalar) == 0) {
                config_report(l, key, key_path, "duplicate key (first given at line %d)",
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
            config_report(l, key, key_path, "unknown key; did you mean \"%s\"?", suggestion);
        else
            config_report(l, key, key_path, "unknown key");
    }
}

/* The node of a sub-mapping: a mapping, or a null value standing for an empty one.
 * NULL when absent or of the wrong type (reported). */
const struct config_node *config_section(struct config_loader *l, const struct config_node *map,
                                         const char *parent, const char *key)
{
    const struct config_node *node = config_tree_get(map, key);
    if (node == NULL || node->kind == CONFIG_NODE_MAPPING || config_tree_is_null(node))
        return node;
    char path[CONFIG_PATH_MAX];
    config_path_key(path, parent, key);
    config_report(l, node, path, "expected a mapping, got %s", config_tree_kind_name(node));
    return NULL;
}

/* The expanded text of a scalar, or NULL after reporting. `expected` describes the
 * wanted value for the type error. Secret values are never quoted in messages, and
 * expansion errors never quote the text at all. */
char *config_scalar_text(struct config_loader *l, const struct config_node *node, const char *path,
                         const char *expected)
{
    if (node->kind != CONFIG_NODE_SCALAR || config_tree_is_null(node)) {
        config_report(l, node, path, "expected %s, got %s", expected, config_tree_kind_name(node));
        return NULL;
    }
    char err[256];
    char *text = config_expand(node->scalar, err, sizeof err);
    if (text == NULL)
        config_report(l, node, path, "%s", err);
    return text;
}

/* The scalar under map[key] being read: where it is, its full key path and its expanded
 * text. */
struct scalar_read {
    const struct config_node *node;
    char path[CONFIG_PATH_MAX];
    char *text;
};

/* Fills *r and returns true when key is present and a scalar; false when it is absent or
 * after reporting that it is not a scalar. The caller frees r->text. */
static bool scalar_begin(struct config_loader *l, const struct config_node *map,
                         const char *parent, const char *key, const char *expected,
                         struct scalar_read *r)
{
    r->node = config_tree_get(map, key);
    if (r->node == NULL)
        return false;
    config_path_key(r->path, parent, key);
    r->text = config_scalar_text(l, r->node, r->path, expected);
    return r->text != NULL;
}

/* "expected EXPECTED, got "TEXT"" at the scalar. */
static void scalar_report_expected(struct config_loader *l, const struct scalar_read *r,
                                   const char *expected)
{
    char quoted[CONFIG_ECHO_MAX + 16];
    config_quote_value(r->text, quoted, sizeof quoted);
    config_report(l, r->node, r->path, "expected %s, got %s", expected, quoted);
}

void config_read_string(struct config_loader *l, const struct config_node *map, const char *parent,
                        const char *key, bool allow_empty, char **out)
{
    struct scalar_read r;
    if (!scalar_begin(l, map, parent, key, "a string", &r))
        return;
    if (!allow_empty && r.text[0] == '\0') {
        config_report(l, r.node, r.path, "expected a non-empty string");
        free(r.text);
        return;
    }
    config_replace_string(out, r.text);
}

/* Durations and sizes are read the same way; only the parser and the words differ. */
struct unit_kind {
    const char *noun;    /* "duration" */
    const char *example; /* "30s or 5m" */
    enum config_unit_status (*parse)(const char *text, int64_t *out);
    void (*format)(int64_t value, char *out, size_t size);
};

static const struct unit_kind duration_kind = {"duration", "30s or 5m", config_parse_duration_ms,
                                               config_format_duration};
static const struct unit_kind size_kind = {"size", "64KiB or 256MiB", config_parse_size_bytes,
                                           config_format_size};

static void read_unit(struct config_loader *l, const struct config_node *map, const char *parent,
                      const char *key, int64_t min, int64_t *out, const struct unit_kind *kind)
{
    char expected[64];
    snprintf(expected, sizeof expected, "a %s like %s", kind->noun, kind->example);
    struct scalar_read r;
    if (!scalar_begin(l, map, parent, key, expected, &r))
        return;
    char quoted[CONFIG_ECHO_MAX + 16];
    config_quote_value(r.text, quoted, sizeof quoted);
    int64_t value = 0;
    switch (kind->parse(r.text, &value)) {
    case CONFIG_UNIT_OK:
        if (value < min) {
            char min_text[32];
            kind->format(min, min_text, sizeof min_text);
            config_report(l, r.node, r.path, "must be at least %s, got %s", min_text, quoted);
        } else {
            *out = value;
        }
        break;
    case CONFIG_UNIT_NEGATIVE:
        config_report(l, r.node, r.path, "a %s must not be negative, got %s", kind->noun,
                      quoted);
        break;
    case CONFIG_UNIT_OVERFLOW:
        config_report(l, r.node, r.path, "%s too large, got %s", kind->noun, quoted);
        break;
    case CONFIG_UNIT_SYNTAX:
        scalar_report_expected(l, &r, expected);
        break;
    }
    free(r.text);
}

void config_read_duration(struct config_loader *l, const struct config_node *map,
                          const char *parent, const char *key, int64_t min_ms, int64_t *out)
{
    read_unit(l, map, parent, key, min_ms, out, &duration_kind);
}

void config_read_size(struct config_loader *l, const struct config_node *map, const char *parent,
                      const char *key, int64_t min_bytes, int64_t *out)
{
    read_unit(l, map, parent, key, min_bytes, out, &size_kind);
}

void config_read_int(struct config_loader *l, const struct config_node *map, const char *parent,
                     const char *key, int min, int max, int *out)
{
    char expected[64];
    snprintf(expected, sizeof expected, "an integer from %d to %d", min, max);
    struct scalar_read r;
    if (!scalar_begin(l, map, parent, key, expected, &r))
        return;
    char *end = NULL;
    errno = 0;
    long long value = strtoll(r.text, &end, 10);
    bool is_integer =
        end != r.text && *end == '\0' && errno == 0 && !isspace((unsigned char)*r.text);
    if (!is_integer || value < min || value > max)
        scalar_report_expected(l, &r, expected);
    else
        *out = (int)value;
    free(r.text);
}

void config_read_bool(struct config_loader *l, const struct config_node *map, const char *parent,
                      const char *key, bool *out)
{
    struct scalar_read r;
    if (!scalar_begin(l, map, parent, key, "true or false", &r))
        return;
    if (strcmp(r.text, "true") == 0)
        *out = true;
    else if (strcmp(r.text, "false") == 0)
        *out = false;
    else
        scalar_report_expected(l, &r, "true or false");
    free(r.text);
}

/* A number in (min_exclusive, max]. */
void config_read_fraction(struct config_loader *l, const struct config_node *map,
                          const char *parent, const char *key, double min_exclusive, double max,
                          double *out)
{
    char expected[64];
    snprintf(expected, sizeof expected, "a number above %g and at most %g", min_exclusive, max);
    struct scalar_read r;
    if (!scalar_begin(l, map, parent, key, expected, &r))
        return;
    char *end = NULL;
    errno = 0;
    double value = strtod(r.text, &end);
    bool is_number = end != r.text && *end == '\0' && errno == 0 &&
                     !isspace((unsigned char)*r.text) && value == value;
    if (!is_number || !(value > min_exclusive && value <= max))
        scalar_report_expected(l, &r, expected);
    else
        *out = value;
    free(r.text);
}

/* Reads one scalar of a string list; `what` names an item for messages. */
char *config_read_list_item(struct config_loader *l, const struct config_node *item,
                            const char *path, const char *what)
{
    char *text = config_scalar_text(l, item, path, what);
    if (text != NULL && text[0] == '\0') {
        config_report(l, item, path, "expected %s, got an empty string", what);
        free(text);
        return NULL;
    }
    return text;
}

void config_string_list_free(struct config_string_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->items[i]);
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

/* A list of non-empty strings; a single string stands for a list of one when
 * allow_scalar. Items that fail are reported and left out. */
bool config_read_string_list(struct config_loader *l, const struct config_node *node,
                             const char *path, const char *what, bool allow_scalar,
                             struct config_string_list *out)
{
    config_string_list_free(out);
    if (allow_scalar && node->kind == CONFIG_NODE_SCALAR && !config_tree_is_null(node)) {
        char *text = config_read_list_item(l, node, path, what);
        if (text == NULL)
            return false;
        out->items = config_xcalloc(1, sizeof *out->items);
        out->items[out->count++] = text;
        return true;
    }
    if (node->kind != CONFIG_NODE_SEQUENCE) {
        config_report(l, node, path, "expected a list of %ss, got %s", what,
                      config_tree_kind_name(node));
        return false;
    }
    bool ok = true;
    out->items = config_xcalloc(node->count + 1, sizeof *out->items);
    for (size_t i = 0; i < node->count; i++) {
        char item_path[CONFIG_PATH_MAX];
        config_path_index(item_path, path, i);
        char *text = config_read_list_item(l, node->items[i], item_path, what);
        if (text == NULL)
            ok = false;
        else
            out->items[out->count++] = text;
    }
    return ok;
}

/* Reads a secret file: a regular file (never a FIFO or device that could block),
 * at most SECRET_FILE_MAX bytes, trailing newlines stripped. */
char *config_read_secret_file(struct config_loader *l, const struct config_node *node,
                              const char *path, const char *file)
{
    int fd = open(file, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        config_report(l, node, path, "cannot read secret file \"%s\": %s", file, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        config_report(l, node, path, "secret file \"%s\" is not a regular file", file);
        close(fd);
        return NULL;
    }
    if (st.st_size > SECRET_FILE_MAX) {
        config_report(l, node, path, "secret file \"%s\" is larger than %d bytes", file,
                      SECRET_FILE_MAX);
        close(fd);
        return NULL;
    }
    char *data = config_xcalloc(1, (size_t)st.st_size + 1);
    size_t used = 0;
    for (;;) {
        ssize_t n = read(fd, data + used, (size_t)st.st_size - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            config_report(l, node, path, "cannot read secret file \"%s\": %s", file,
                          strerror(errno));
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
        config_report(l, node, path, "secret file \"%s\" contains a NUL byte", file);
        free(data);
        return NULL;
    }
    while (used > 0 && (data[used - 1] == '\n' || data[used - 1] == '\r'))
        data[--used] = '\0';
    if (used == 0) {
        config_report(l, node, path, "secret file \"%s\" is empty", file);
        free(data);
        return NULL;
    }
    return data;
}

/* A secret given as KEY (usually "${VAR}") or KEY_file. Returns the value, or NULL
 * when absent or on error (then *failed is set). Values are never quoted in errors. */
char *config_read_secret(struct config_loader *l, const struct config_node *map, const char *parent,
                         const char *key, bool *failed)
{
    char file_key[128];
    snprintf(file_key, sizeof file_key, "%s_file", key);
    const struct config_node *direct = config_tree_get(map, key);
    const struct config_node *file = config_tree_get(map, file_key);
    char path[CONFIG_PATH_MAX];
    if (direct != NULL && file != NULL) {
        config_path_key(path, parent, file_key);
        config_report(l, file, path, "give either %s or %s, not both", key, file_key);
        *failed = true;
        return NULL;
    }
    if (direct != NULL) {
        config_path_key(path, parent, key);
        char *value =
            config_scalar_text(l, direct, path, "a string (the secret itself, or ${VAR})");
        if (value != NULL && value[0] == '\0') {
            config_report(l, direct, path, "the secret is empty");
            free(value);
            value = NULL;
        }
        if (value == NULL)
            *failed = true;
        return value;
    }
    if (file != NULL) {
        config_path_key(path, parent, file_key);
        char *file_path = config_scalar_text(l, file, path, "a file path");
        if (file_path == NULL) {
            *failed = true;
            return NULL;
        }
        char *value = config_read_secret_file(l, file, path, file_path);
        free(file_path);
        if (value == NULL)
            *failed = true;
        return value;
    }
    return NULL;
}

void config_filter_free(struct config_event_filter *filter)
{
    for (size_t i = 0; i < filter->count; i++)
        free(filter->patterns[i]);
    free(filter->patterns);
    filter->patterns = NULL;
    filter->count = 0;
}

static void add_filter_pattern(struct config_loader *l, const struct config_node *item,
                               const char *path, struct config_event_filter *out)
{
    char *text = config_read_list_item(l, item, path, "event type");
    if (text == NULL)
        return;
    if (config_event_pattern_valid(text)) {
        out->patterns[out->count++] = text;
        return;
    }
    char quoted[CONFIG_ECHO_MAX + 16];
    config_quote_value(text, quoted, sizeof quoted);
    const char *suggestion = config_suggest(text, config_event_patterns());
    if (suggestion != NULL)
        config_report(l, item, path, "unknown event type %s; did you mean \"%s\"?", quoted,
                      suggestion);
    else
        config_report(l, item, path,
                      "unknown event type %s; expected a type like campaign.state_changed, "
                      "a family like alert.* or *",
                      quoted);
    free(text);
}

/* events: a list of patterns, or one pattern as a plain string. */
void config_read_event_filter(struct config_loader *l, const struct config_node *map,
                              const char *parent, struct config_event_filter *out)
{
    const struct config_node *node = config_tree_get(map, "events");
    if (node == NULL)
        return;
    char path[CONFIG_PATH_MAX];
    config_path_key(path, parent, "events");
    config_filter_free(out);
    if (node->kind == CONFIG_NODE_SCALAR && !config_tree_is_null(node)) {
        out->patterns = config_xcalloc(1, sizeof *out->patterns);
        add_filter_pattern(l, node, path, out);
        return;
    }
    if (node->kind != CONFIG_NODE_SEQUENCE) {
        config_report(l, node, path, "expected a list of event types, got %s",
                      config_tree_kind_name(node));
        return;
    }
    if (node->count == 0) {
        config_report(l, node, path,
                      "expected at least one event type (leave events out to receive every event)");
        return;
    }
    out->patterns = config_xcalloc(node->count, sizeof *out->patterns);
    for (size_t i = 0; i < node->count; i++) {
        char item_path[CONFIG_PATH_MAX];
        config_path_index(item_path, path, i);
        add_filter_pattern(l, node->items[i], item_path, out);
    }
}

static void strip_trailing_slashes(char *url)
{
    size_t len = strlen(url);
    while (len > 0 && url[len - 1] == '/')
        url[--len] = '\0';
}

/* Reads an http(s) URL; copies its host into host when given. */
char *config_read_url(struct config_loader *l, const struct config_node *map, const char *parent,
                      const char *key, char *host, size_t host_size)
{
    const struct config_node *node = config_tree_get(map, key);
    if (node == NULL)
        return NULL;
    char path[CONFIG_PATH_MAX];
    config_path_key(path, parent, key);
    char *url = config_scalar_text(l, node, path, "an http:// or https:// URL");
    if (url == NULL)
        return NULL;
    char host_buf[256];
    char err[160];
    if (!config_url_check(url, host_buf, sizeof host_buf, err, sizeof err)) {
        char quoted[CONFIG_ECHO_MAX + 16];
        config_quote_value(url, quoted, sizeof quoted);
        config_report(l, node, path, "%s, got %s", err, quoted);
        free(url);
        return NULL;
    }
    if (host != NULL)
        snprintf(host, host_size, "%s", host_buf);
    strip_trailing_slashes(url);
    return url;
}

void config_report_missing(struct config_loader *l, const struct config_node *where,
                           const char *path, const char *key)
{
    config_report(l, where, path, "missing required key \"%s\"", key);
}

/* The node to point at for a cross-key check: the key if given, else its section. */
const struct config_node *config_node_or(const struct config_node *sec, const char *key)
{
    const struct config_node *node = config_tree_get(sec, key);
    return node != NULL ? node : sec;
}

void config_pair_list_free(struct config_pair_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i].key);
        free(list->items[i].value);
    }
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

bool config_has_space_or_control(const char *text)
{
    for (const char *p = text; *p != '\0'; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return true;
    return false;
}
