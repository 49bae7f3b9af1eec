#include "tests/gcsim/prng.h"

#include <stdio.h>

void prng_seed(struct prng *rng, uint64_t seed)
{
    rng->state = seed ^ 0x6a09e667f3bcc909ULL;
}

uint64_t prng_next(struct prng *rng)
{
    uint64_t z = (rng->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t prng_below(struct prng *rng, uint64_t bound)
{
    return bound ? prng_next(rng) % bound : 0;
}

void prng_uuid(struct prng *rng, char out[PRNG_UUID_LEN])
{
    uint64_t hi = prng_next(rng), lo = prng_next(rng);
    hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
    lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
    snprintf(out, PRNG_UUID_LEN, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(hi >> 32),
             (unsigned)((hi >> 16) & 0xffff), (unsigned)(hi & 0xffff), (unsigned)(lo >> 48),
             (unsigned long long)(lo & 0xffffffffffffULL));
}

void prng_alnum(struct prng *rng, char *out, int n)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    for (int i = 0; i < n; i++)
        out[i] = alphabet[prng_below(rng, sizeof(alphabet) - 1)];
    out[n] = '\0';
}
