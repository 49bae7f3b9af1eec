#include "util/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *must(void *pointer)
{
    if (!pointer) {
        fputs("campaign-relay: out of memory\n", stderr);
        abort();
    }
    return pointer;
}

void *xmalloc(size_t size)
{
    return must(malloc(size ? size : 1));
}

void *xcalloc(size_t count, size_t size)
{
    return must(calloc(count ? count : 1, size ? size : 1));
}

void *xrealloc(void *pointer, size_t size)
{
    return must(realloc(pointer, size ? size : 1));
}

char *xstrdup(const char *text)
{
    return text ? must(strdup(text)) : NULL;
}

char *xstrdup_or_empty(const char *text)
{
    return must(strdup(text ? text : ""));
}

char *xmemdup0(const void *bytes, size_t len)
{
    char *copy = must(malloc(len + 1));
    if (len)
        memcpy(copy, bytes, len);
    copy[len] = '\0';
    return copy;
}

void errstr_set(char *errstr, size_t errstr_size, const char *fmt, ...)
{
    if (!errstr || errstr_size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, errstr_size, fmt, ap);
    va_end(ap);
}
