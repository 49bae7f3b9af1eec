#include "app/reload.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 8
#define KEY_MAX 96

/* Sections the running relay applies on reload; every other one needs a restart. */
static const char *const live_sections[] = {"sinks", "log", "shutdown", NULL};

static bool str_same(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static bool strings_same(const struct config_string_list *a, const struct config_string_list *b)
{
    if (a->count != b->count)
        return false;
    for (size_t i = 0; i < a->count; i++)
        if (!str_same(a->items[i], b->items[i]))
            return false;
    return true;
}

static bool pairs_same(const struct config_pair_list *a, const struct config_pair_list *b)
{
    if (a->count != b->count)
        return false;
    for (size_t i = 0; i < a->count; i++)
        if (!str_same(a->items[i].key, b->items[i].key) ||
            !str_same(a->items[i].value, b->items[i].value))
            return false;
    return true;
}

static bool filters_same(const struct config_event_filter *a, const struct config_event_filter *b)
{
    if (a->count != b->count)
        return false;
    for (size_t i = 0; i < a->count; i++)
        if (!str_same(a->patterns[i], b->patterns[i]))
            return false;
    return true;
}

bool reload_webhook_same(const struct config_webhook *a, const struct config_webhook *b)
{
    return str_same(a->name, b->name) && str_same(a->url, b->url) &&
           strings_same(&a->secrets, &b->secrets) && filters_same(&a->events, &b->events) &&
           a->timeout_ms == b->timeout_ms && a->max_attempts == b->max_attempts &&
           a->concurrency == b->concurrency && a->backoff_min_ms == b->backoff_min_ms &&
           a->backoff_max_ms == b->backoff_max_ms && pairs_same(&a->headers, &b->headers);
}

bool reload_kafka_same(const struct config_kafka *a, const struct config_kafka *b)
{
    if (a->enabled != b->enabled)
        return false;
    if (!a->enabled)
        return true;
    return str_same(a->brokers, b->brokers) && str_same(a->topic_state, b->topic_state) &&
           str_same(a->topic_alerts, b->topic_alerts) &&
           str_same(a->topic_audit, b->topic_audit) &&
           pairs_same(&a->properties, &b->properties) && filters_same(&a->events, &b->events);
}

bool reload_file_same(const struct config_file_sink *a, const struct config_file_sink *b)
{
    if (a->enabled != b->enabled)
        return false;
    if (!a->enabled)
        return true;
    return str_same(a->path, b->path) && a->max_bytes == b->max_bytes &&
           a->max_files == b->max_files && filters_same(&a->events, &b->events);
}

/* ---- restart keys: compare the printed effective configurations ---------------------- */

struct setting {
    char *path;  /* "platform.api_url" */
    char *value; /* as printed */
};

struct settings {
    struct setting *items;
    size_t count, capacity;
};

static void settings_add(struct settings *s, const char *path, const char *value)
{
    if (s->count == s->capacity) {
        s->capacity = s->capacity ? s->capacity * 2 : 64;
        s->items = realloc(s->items, s->capacity * sizeof *s->items);
        if (!s->items)
            abort();
    }
    s->items[s->count].path = strdup(path);
    s->items[s->count].value = strdup(value);
    if (!s->items[s->count].path || !s->items[s->count].value)
        abort();
    s->count++;
}

static void settings_free(struct settings *s)
{
    for (size_t i = 0; i < s->count; i++) {
        free(s->items[i].path);
        free(s->items[i].value);
    }
    free(s->items);
}

static const char *settings_find(const struct settings *s, const char *path)
{
    for (size_t i = 0; i < s->count; i++)
        if (strcmp(s->items[i].path, path) == 0)
            return s->items[i].value;
    return NULL;
}

/* Copies a printed key without its quotes. */
static void copy_key(char *out, const char *key, size_t len)
{
    if (len >= 2 && key[0] == '"' && key[len - 1] == '"') {
        key++;
        len -= 2;
    }
    if (len >= KEY_MAX)
        len = KEY_MAX - 1;
    memcpy(out, key, len);
    out[len] = '\0';
}

/* One "path value" per leaf of config_print_effective()'s YAML (two-space indents,
 * one key per line; list items keep their parent's path with an index). */
static void parse_printed(const char *text, struct settings *out)
{
    char stack[MAX_DEPTH][KEY_MAX];
    int item_index[MAX_DEPTH] = {0};
    memset(stack, 0, sizeof stack);
    const char *line = text;
    while (*line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        size_t indent = 0;
        while (indent < len && line[indent] == ' ')
            indent++;
        const char *content = line + indent;
        size_t content_len = len - indent;
        size_t depth = indent / 2;
        if (content_len > 0 && content[0] != '#' && depth + 1 < MAX_DEPTH) {
            if (content_len >= 2 && content[0] == '-' && content[1] == ' ') {
                /* "- name: x": a list item; its keys sit one level deeper */
                snprintf(stack[depth], KEY_MAX, "[%d]", item_index[depth]++);
                content += 2;
                content_len -= 2;
                depth++;
                if (depth + 1 >= MAX_DEPTH)
                    goto next;
            }
            item_index[depth + 1] = 0;
            const char *key_end = content;
            if (content[0] == '"') {
                const char *quote = memchr(content + 1, '"', content_len - 1);
                key_end = quote ? quote + 1 : content + content_len;
            }
            const char *colon =
                memchr(key_end, ':', (size_t)(content + content_len - key_end));
            if (colon) {
                copy_key(stack[depth], content, (size_t)(colon - content));
                const char *value = colon + 1;
                while (value < content + content_len && *value == ' ')
                    value++;
                char path[MAX_DEPTH * KEY_MAX];
                path[0] = '\0';
                for (size_t i = 0; i <= depth; i++) {
                    if (i > 0 && stack[i][0] != '[')
                        strcat(path, ".");
                    strcat(path, stack[i]);
                }
                char *copy = strndup(value, (size_t)(content + content_len - value));
                if (!copy)
                    abort();
                settings_add(out, path, copy);
                free(copy);
            }
        }
    next:
        if (!end)
            break;
        line = end + 1;
    }
}

static char *print_effective(const struct relay_config *config)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    if (!out)
        abort();
    config_print_effective(config, out);
    fclose(out);
    return text;
}

static bool needs_restart(const char *path)
{
    size_t section_len = strcspn(path, ".");
    for (size_t i = 0; live_sections[i]; i++)
        if (strlen(live_sections[i]) == section_len &&
            strncmp(path, live_sections[i], section_len) == 0)
            return false;
    return true;
}

static size_t name_key(struct strbuf *out, size_t named, const char *path)
{
    if (named > 0)
        strbuf_append(out, ", ");
    strbuf_append(out, path);
    return named + 1;
}

size_t reload_restart_keys(const struct relay_config *running, const struct relay_config *loaded,
                           struct strbuf *out)
{
    char *before_text = print_effective(running);
    char *after_text = print_effective(loaded);
    struct settings before = {0}, after = {0};
    parse_printed(before_text, &before);
    parse_printed(after_text, &after);
    free(before_text);
    free(after_text);

    size_t named = 0;
    for (size_t i = 0; i < after.count; i++) {
        const struct setting *s = &after.items[i];
        if (!needs_restart(s->path))
            continue;
        const char *old = settings_find(&before, s->path);
        if (!old || strcmp(old, s->value) != 0)
            named = name_key(out, named, s->path);
    }
    for (size_t i = 0; i < before.count; i++) {
        const struct setting *s = &before.items[i];
        if (needs_restart(s->path) && !settings_find(&after, s->path))
            named = name_key(out, named, s->path);
    }
    /* Printed masked: compare the values themselves. */
    if (!str_same(running->platform.client_secret, loaded->platform.client_secret))
        named = name_key(out, named, "platform.client_secret");
    if (!str_same(running->admin.bearer_token, loaded->admin.bearer_token))
        named = name_key(out, named, "admin.bearer_token");
    settings_free(&before);
    settings_free(&after);
    return named;
}
