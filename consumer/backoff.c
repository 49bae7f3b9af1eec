#include "consumer/backoff.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#include "util/timeutil.h"

struct backoff {
    struct backoff_options opts;
    unsigned attempt;
    bool up;           /* backoff_succeeded() seen since the last failure */
    int64_t up_since_ms;
    uint64_t rng_state; /* splitmix64, used when no random source is injected */
};

static uint64_t splitmix64_next(void *opaque)
{
    uint64_t *state = opaque;
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t os_seed(const void *salt)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
        seed = (uint64_t)time_mono_us() ^ ((uint64_t)(uintptr_t)salt << 16);
    return seed;
}

struct backoff *backoff_create(const struct backoff_options *options, char *errstr,
                               size_t errstr_size)
{
    if (options->base_ms <= 0) {
        snprintf(errstr, errstr_size, "backoff: base delay must be positive, got %lld ms",
                 (long long)options->base_ms);
        return NULL;
    }
    if (options->cap_ms < options->base_ms) {
        snprintf(errstr, errstr_size,
                 "backoff: maximum delay %lld ms is below the minimum delay %lld ms",
                 (long long)options->cap_ms, (long long)options->base_ms);
        return NULL;
    }
    if (options->healthy_ms < 0) {
        snprintf(errstr, errstr_size, "backoff: healthy interval must not be negative");
        return NULL;
    }
    struct backoff *backoff = calloc(1, sizeof *backoff);
    if (backoff == NULL) {
        snprintf(errstr, errstr_size, "backoff: out of memory");
        return NULL;
    }
    backoff->opts = *options;
    if (backoff->opts.random == NULL) {
        backoff->rng_state = os_seed(backoff);
        backoff->opts.random = splitmix64_next;
        backoff->opts.random_opaque = &backoff->rng_state;
    }
    return backoff;
}

void backoff_destroy(struct backoff *backoff)
{
    free(backoff);
}

int64_t backoff_ceiling_ms(const struct backoff *backoff)
{
    int64_t ceiling = backoff->opts.base_ms;
    /* Doubling stops at the cap, so this neither overflows nor loops for long. */
    for (unsigned i = 0; i < backoff->attempt && ceiling < backoff->opts.cap_ms; i++)
        ceiling = ceiling > INT64_MAX / 2 ? INT64_MAX : ceiling * 2;
    return ceiling < backoff->opts.cap_ms ? ceiling : backoff->opts.cap_ms;
}

int64_t backoff_next_ms(struct backoff *backoff, int64_t now_ms)
{
    if (backoff->up && backoff->opts.healthy_ms > 0 &&
        now_ms - backoff->up_since_ms >= backoff->opts.healthy_ms)
        backoff->attempt = 0;
    backoff->up = false;

    uint64_t ceiling = (uint64_t)backoff_ceiling_ms(backoff);
    uint64_t draw = backoff->opts.random(backoff->opts.random_opaque);
    /* Modulo bias is below 2^-40 for any realistic ceiling. */
    int64_t delay = (int64_t)(ceiling == UINT64_MAX ? draw : draw % (ceiling + 1));
    if (backoff->attempt < UINT32_MAX)
        backoff->attempt++;
    return delay;
}

void backoff_succeeded(struct backoff *backoff, int64_t now_ms)
{
    backoff->up = true;
    backoff->up_since_ms = now_ms;
}

void backoff_reset(struct backoff *backoff)
{
    backoff->attempt = 0;
    backoff->up = false;
}

unsigned backoff_attempts(const struct backoff *backoff)
{
    return backoff->attempt;
}
