/*
 * Full-jitter exponential backoff, shared by every retry loop in the relay
 * (REST retries, WebSocket reconnects, webhook redelivery).
 *
 * Attempt k (counting from 0) waits a uniformly random delay in
 * [0, min(cap_ms, base_ms * 2^k)] milliseconds ("full jitter"): retries from many
 * clients spread out instead of arriving in synchronized waves.
 *
 * Reset after healthy: a reconnect loop calls backoff_succeeded(now) when the
 * connection comes up. If the next failure (backoff_next_ms(now)) happens at least
 * healthy_ms later, the connection counted as healthy and the sequence starts
 * again from attempt 0; a connection that flaps faster keeps growing the delay.
 * Callers that know the operation succeeded outright call backoff_reset().
 *
 * Contract: time is passed in by the caller (any monotonic milliseconds), and the
 * random source is injectable, so tests are deterministic. One object belongs to
 * one thread; objects are cheap, make one per retry loop.
 */
#ifndef CRELAY_CONSUMER_BACKOFF_H
#define CRELAY_CONSUMER_BACKOFF_H

#include <stddef.h>
#include <stdint.h>

/* Returns 64 uniformly random bits. */
typedef uint64_t (*backoff_random_fn)(void *opaque);

struct backoff_options {
    int64_t base_ms;    /* ceiling of attempt 0; > 0 */
    int64_t cap_ms;     /* largest ceiling; >= base_ms */
    int64_t healthy_ms; /* up this long = healthy; 0 = only backoff_reset() resets */
    backoff_random_fn random; /* NULL: an internal generator seeded from the OS */
    void *random_opaque;
};

struct backoff;

/* Returns NULL with errstr set when the options are inconsistent. */
struct backoff *backoff_create(const struct backoff_options *options, char *errstr,
                               size_t errstr_size);
void backoff_destroy(struct backoff *backoff);

/* Delay before the next attempt, and counts the attempt. */
int64_t backoff_next_ms(struct backoff *backoff, int64_t now_ms);
/* Ceiling the next call to backoff_next_ms() will draw under (before any reset). */
int64_t backoff_ceiling_ms(const struct backoff *backoff);
/* Marks the operation as up since now_ms (see reset after healthy above). */
void backoff_succeeded(struct backoff *backoff, int64_t now_ms);
/* Starts again from attempt 0. */
void backoff_reset(struct backoff *backoff);
/* Attempts counted since the last reset. */
unsigned backoff_attempts(const struct backoff *backoff);

#endif
