#include "util/strbuf.h"

#include "util/numtext.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void strbuf_init(struct strbuf *sb)
{
    sb->data = NULL;
    sb->len = 0;
    sb->cap = 0;
}

void strbuf_free(struct strbuf *sb)
{
    free(sb->data);
    strbuf_init(sb);
}

void strbuf_reset(struct strbuf *sb)
{
    sb->len = 0;
    if (sb->data)
        sb->data[0] = '\0';
}

void strbuf_reserve(struct strbuf *sb, size_t extra)
{
    size_t need = sb->len + extra + 1;
    if (need <= sb->cap)
        return;
    size_t cap = sb->cap ? sb->cap : 64;
    while (cap < need)
        cap *= 2;
    char *data = realloc(sb->data, cap);
    if (!data) {
        fputs("campaign-relay: out of memory\n", stderr);
        abort();
    }
    sb->data = data;
    sb->cap = cap;
}

void strbuf_vappendf(struct strbuf *sb, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, copy);
    va_end(copy);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        strbuf_append_len(sb, small, (size_t)n);
        return;
    }
    strbuf_reserve(sb, (size_t)n);
    vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
    sb->len += (size_t)n;
}

void strbuf_appendf(struct strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    strbuf_vappendf(sb, fmt, ap);
    va_end(ap);
}

void strbuf_append_int64(struct strbuf *sb, int64_t value)
{
    char text[NUMTEXT_MAX];
    strbuf_append_len(sb, text, numtext_int64(text, value));
}

void strbuf_append_hex(struct strbuf *sb, uint64_t value, int digits)
{
    static const char hex[] = "0123456789abcdef";
    char text[16];
    if (digits < 1 || digits > 16)
        abort();
    for (int i = digits - 1; i >= 0; i--, value >>= 4)
        text[i] = hex[value & 0xF];
    strbuf_append_len(sb, text, (size_t)digits);
}

/* For each byte, what follows the backslash when a JSON string escapes it ('u': \u00XX),
 * or 0 when it is copied as it is. NUL stops the scan too. One load per byte where a
 * switch was: ids, names and topics go through here several times per notification. */
#define PLAIN_ROW 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
static const char json_escape[256] = {
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'b', 't', 'n', 'u', 'f', 'r', 'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    0, 0, '"', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x22 '"' */
    PLAIN_ROW, PLAIN_ROW,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '\\', 0, 0, 0, /* 0x5c '\\' */
    PLAIN_ROW, PLAIN_ROW, PLAIN_ROW, PLAIN_ROW, PLAIN_ROW, PLAIN_ROW, PLAIN_ROW, PLAIN_ROW,
    PLAIN_ROW, PLAIN_ROW,
};
#undef PLAIN_ROW

void strbuf_append_json_string(struct strbuf *sb, const char *text)
{
    if (!text) {
        strbuf_append(sb, "null");
        return;
    }
    static const char hex[] = "0123456789abcdef";
    strbuf_reserve(sb, strlen(text) + 2);
    strbuf_append_char(sb, '"');
    const unsigned char *p = (const unsigned char *)text, *run = p;
    for (;;) {
        while (!json_escape[*p])
            p++;
        strbuf_append_len(sb, run, (size_t)(p - run));
        if (*p == '\0')
            break;
        char escape[6] = {'\\', json_escape[*p], '0', '0', hex[*p >> 4], hex[*p & 0xF]};
        strbuf_append_len(sb, escape, escape[1] == 'u' ? 6 : 2);
        run = ++p;
    }
    strbuf_append_char(sb, '"');
}

const char *strbuf_cstr(const struct strbuf *sb)
{
    return sb->data ? sb->data : "";
}

int strbuf_append_stream(struct strbuf *sb, FILE *f, size_t max_len)
{
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (max_len > 0 && sb->len + n > max_len)
            return 1;
        strbuf_append_len(sb, chunk, n);
    }
    return ferror(f) ? -1 : 0;
}

char *strbuf_detach(struct strbuf *sb)
{
    char *data = sb->data;
    if (!data) {
        data = malloc(1);
        if (!data)
            abort();
        data[0] = '\0';
    }
    strbuf_init(sb);
    return data;
}
