#include "config/config_expand.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"

#define VAR_NAME_MAX 128

static bool is_name_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_name_char(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

/* Expands one ${...} reference starting at text (which points at '$'). Returns the
 * number of bytes consumed, or 0 on error. */
static size_t expand_reference(const char *text, struct strbuf *out, char *err,
                               size_t err_size)
{
    const char *p = text + 2;
    const char *name_start = p;
    if (!is_name_start(*p)) {
        snprintf(err, err_size,
                 "invalid variable reference: expected ${NAME} or ${NAME:-default} "
                 "where NAME is letters, digits and _");
        return 0;
    }
    while (is_name_char(*p))
        p++;
    size_t name_len = (size_t)(p - name_start);
    if (name_len >= VAR_NAME_MAX) {
        snprintf(err, err_size, "variable name longer than %d characters", VAR_NAME_MAX - 1);
        return 0;
    }
    char name[VAR_NAME_MAX];
    memcpy(name, name_start, name_len);
    name[name_len] = '\0';

    const char *fallback = NULL;
    size_t fallback_len = 0;
    if (p[0] == ':' && p[1] == '-') {
        fallback = p + 2;
        const char *close = strchr(fallback, '}');
        if (close == NULL) {
            snprintf(err, err_size, "unterminated ${%s:-...}: missing '}'", name);
            return 0;
        }
        fallback_len = (size_t)(close - fallback);
        p = close;
    }
    if (*p != '}') {
        snprintf(err, err_size,
                 "invalid variable reference ${%s...}: expected '}' or ':-default}'", name);
        return 0;
    }
    const char *value = getenv(name);
    if (fallback != NULL && (value == NULL || value[0] == '\0')) {
        strbuf_append_len(out, fallback, fallback_len);
    } else if (value == NULL) {
        snprintf(err, err_size,
                 "environment variable %s is not set (use ${%s:-default} for a default)",
                 name, name);
        return 0;
    } else {
        strbuf_append(out, value);
    }
    return (size_t)(p + 1 - text);
}

char *config_expand(const char *text, char *err, size_t err_size)
{
    struct strbuf out;
    strbuf_init(&out);
    const char *p = text;
    while (*p != '\0') {
        const char *dollar = strchr(p, '$');
        if (dollar == NULL) {
            strbuf_append(&out, p);
            break;
        }
        strbuf_append_len(&out, p, (size_t)(dollar - p));
        if (dollar[1] == '$') {
            strbuf_append_char(&out, '$');
            p = dollar + 2;
        } else if (dollar[1] == '{') {
            size_t used = expand_reference(dollar, &out, err, err_size);
            if (used == 0) {
                strbuf_free(&out);
                return NULL;
            }
            p = dollar + used;
        } else {
            strbuf_append_char(&out, '$');
            p = dollar + 1;
        }
    }
    return strbuf_detach(&out);
}
