/*
 * A growable, always NUL-terminated byte buffer.
 *
 * Contract: a zeroed or strbuf_init()ed buffer is empty and valid; strbuf_free()
 * releases it and leaves it empty and reusable. Allocation failure aborts the
 * process (a daemon that cannot allocate a few bytes cannot make progress, and
 * every caller checking would hide real errors in noise).
 */
#ifndef CRELAY_UTIL_STRBUF_H
#define CRELAY_UTIL_STRBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct strbuf {
    char *data;
    size_t len;
    size_t cap;
};

void strbuf_init(struct strbuf *sb);
void strbuf_free(struct strbuf *sb);
void strbuf_reset(struct strbuf *sb);             /* len = 0, keeps the allocation */
void strbuf_reserve(struct strbuf *sb, size_t extra);

/* Inline: JSON writers and the audit canonicalizer append a few bytes at a time, and a
 * call per byte into another object file was a tenth of the decode thread's time. */
static inline void strbuf_append_len(struct strbuf *sb, const void *data, size_t len)
{
    if (sb->len + len >= sb->cap)
        strbuf_reserve(sb, len);
    if (len)
        memcpy(sb->data + sb->len, data, len);
    sb->len += len;
    sb->data[sb->len] = '\0';
}

static inline void strbuf_append_char(struct strbuf *sb, char c)
{
    if (sb->len + 1 >= sb->cap)
        strbuf_reserve(sb, 1);
    sb->data[sb->len++] = c;
    sb->data[sb->len] = '\0';
}

/* Inline so that the length of a literal, most of what the event builders append, is
 * known at compile time. */
static inline void strbuf_append(struct strbuf *sb, const char *text)
{
    strbuf_append_len(sb, text, strlen(text));
}

void strbuf_appendf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vappendf(struct strbuf *sb, const char *fmt, va_list ap);
/* Appends the decimal text of value, as "%" PRId64 would, without printf. */
void strbuf_append_int64(struct strbuf *sb, int64_t value);
/* Appends the low `digits` hex digits of value (1-16), lower case, zero-padded, as
 * "%0*" PRIx64 would when value fits; higher digits are dropped. */
void strbuf_append_hex(struct strbuf *sb, uint64_t value, int digits);
/* Appends text as a quoted JSON string with RFC 8259 escaping; NULL appends null. */
void strbuf_append_json_string(struct strbuf *sb, const char *text);
/* Appends what is left to read in f. With max_len > 0, stops before the buffer would
 * pass max_len bytes. Returns 0 at the end of the stream, 1 when it stopped at
 * max_len (the buffer holds what fitted), -1 on a read error (ferror). */
int strbuf_append_stream(struct strbuf *sb, FILE *f, size_t max_len);
/* Returns the contents; "" for an empty buffer, never NULL. */
const char *strbuf_cstr(const struct strbuf *sb);
/* Hands the heap string to the caller (caller frees) and leaves sb empty. */
char *strbuf_detach(struct strbuf *sb);

#endif
