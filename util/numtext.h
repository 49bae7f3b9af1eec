/*
 * Numbers as text without printf: the relay formats several numbers per notification
 * (event data, ids, the audit canonical form), and vfprintf was 8 % of the service
 * loop's time.
 *
 * Contract: every function writes the same characters C's printf would for the named
 * conversion, NUL-terminated, and returns the length without the NUL. Buffers must
 * hold NUMTEXT_MAX bytes.
 */
#ifndef CRELAY_UTIL_NUMTEXT_H
#define CRELAY_UTIL_NUMTEXT_H

#include <stddef.h>
#include <stdint.h>

#define NUMTEXT_MAX 32

/* "%" PRId64 */
size_t numtext_int64(char out[NUMTEXT_MAX], int64_t value);
/* "%.17g": integral values below 1e17 in magnitude take a fast path (the common case:
 * counts and epoch milliseconds), everything else goes to snprintf. */
size_t numtext_g17(char out[NUMTEXT_MAX], double value);

#endif
