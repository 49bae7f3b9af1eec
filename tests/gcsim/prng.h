/*
 * Seeded pseudo-random numbers (splitmix64) and UUIDs drawn from them.
 *
 * Contract: the same seed gives the same sequence on every machine, so campaign ids,
 * names and traffic are reproducible from --seed. Not for secrets.
 */
#ifndef GCSIM_PRNG_H
#define GCSIM_PRNG_H

#include <stdint.h>

#define PRNG_UUID_LEN 37 /* 36 characters and the NUL */

struct prng {
    uint64_t state;
};

void prng_seed(struct prng *rng, uint64_t seed);
uint64_t prng_next(struct prng *rng);
/* Uniform in [0, bound); bound 0 gives 0. */
uint64_t prng_below(struct prng *rng, uint64_t bound);
/* A version-4 shaped UUID in lower-case hex. */
void prng_uuid(struct prng *rng, char out[PRNG_UUID_LEN]);
/* n random characters from [a-z0-9], NUL-terminated (out needs n + 1 bytes). */
void prng_alnum(struct prng *rng, char *out, int n);

#endif
