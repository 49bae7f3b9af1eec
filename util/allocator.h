/*
 * Which allocator serves malloc in this process. The release build links mimalloc ahead
 * of the C library so that it replaces malloc everywhere (the relay's own code,
 * libwebsockets, librdkafka, SQLite); sanitizer builds keep the sanitizer's allocator.
 * Operators and tests ask this instead of trusting the link line, because a linker that
 * drops an unreferenced library would silently bring glibc's malloc back.
 *
 * Contract: allocator_describe() writes "mimalloc X.Y.Z" when mimalloc really serves
 * malloc (checked with a live allocation, not by symbol presence), otherwise
 * "system malloc", NUL-terminated and truncated to the buffer. Returns `out`.
 */
#ifndef CRELAY_UTIL_ALLOCATOR_H
#define CRELAY_UTIL_ALLOCATOR_H

#include <stddef.h>

char *allocator_describe(char *out, size_t size);

#endif
