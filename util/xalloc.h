/*
 * Allocation that cannot fail, and the errstr convention's formatter.
 *
 * A daemon that cannot allocate a few bytes cannot make progress, and checking every
 * allocation would hide real errors in noise: these abort on failure instead.
 */
#ifndef CRELAY_UTIL_XALLOC_H
#define CRELAY_UTIL_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *pointer, size_t size);
/* A heap copy; NULL stays NULL. */
char *xstrdup(const char *text);
/* A heap copy; NULL becomes "". */
char *xstrdup_or_empty(const char *text);
/* A heap copy of len bytes with a NUL after them. */
char *xmemdup0(const void *bytes, size_t len);

/* Formats into a caller's errstr buffer (errstr may be NULL or errstr_size 0). */
void errstr_set(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
