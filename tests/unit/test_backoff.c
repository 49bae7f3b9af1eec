/* Unit tests for consumer/backoff: full-jitter bounds, growth, cap and resets. */
#include "consumer/backoff.h"
#include "tests/harness.h"

/* Deterministic random sources: a fixed value, or a seeded sequence. */
static uint64_t fixed_random(void *opaque)
{
    return *(uint64_t *)opaque;
}

static uint64_t lcg_random(void *opaque)
{
    uint64_t *state = opaque;
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return *state ^ (*state >> 29);
}

static struct backoff *make(int64_t base, int64_t cap, int64_t healthy, backoff_random_fn fn,
                            void *opaque)
{
    char err[256] = "";
    struct backoff_options opts = {.base_ms = base, .cap_ms = cap, .healthy_ms = healthy,
                                   .random = fn, .random_opaque = opaque};
    struct backoff *b = backoff_create(&opts, err, sizeof err);
    if (b == NULL)
        printf("# backoff_create: %s\n", err);
    return b;
}

static void test_ceiling_doubles_until_cap(void)
{
    uint64_t zero = 0;
    struct backoff *b = make(100, 5000, 0, fixed_random, &zero);
    REQUIRE(b != NULL);
    const int64_t expected[] = {100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000};
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        CHECK_EQ_INT(backoff_ceiling_ms(b), expected[i]);
        backoff_next_ms(b, 0);
    }
    CHECK_EQ_INT(backoff_attempts(b), 9);
    /* Thousands of attempts must neither overflow nor exceed the cap. */
    for (int i = 0; i < 5000; i++)
        backoff_next_ms(b, 0);
    CHECK_EQ_INT(backoff_ceiling_ms(b), 5000);
    backoff_destroy(b);
}

static void test_delay_spans_zero_to_ceiling(void)
{
    /* The largest draw lands on the ceiling itself, the smallest on zero. */
    uint64_t value = 0;
    struct backoff *b = make(100, 10000, 0, fixed_random, &value);
    REQUIRE(b != NULL);
    CHECK_EQ_INT(backoff_next_ms(b, 0), 0);
    value = 200; /* attempt 1: ceiling 200, 200 % 201 = 200 */
    CHECK_EQ_INT(backoff_next_ms(b, 0), 200);
    value = 401; /* attempt 2: ceiling 400, 401 % 401 = 0 */
    CHECK_EQ_INT(backoff_next_ms(b, 0), 0);
    backoff_destroy(b);
}

static void test_random_delays_stay_in_bounds_and_spread(void)
{
    uint64_t state = 42;
    struct backoff *b = make(50, 2000, 0, lcg_random, &state);
    REQUIRE(b != NULL);
    for (int round = 0; round < 200; round++) {
        backoff_reset(b);
        for (int attempt = 0; attempt < 10; attempt++) {
            int64_t ceiling = backoff_ceiling_ms(b);
            int64_t delay = backoff_next_ms(b, 0);
            CHECK_MSG(delay >= 0 && delay <= ceiling, "attempt %d delay %lld ceiling %lld",
                      attempt, (long long)delay, (long long)ceiling);
        }
    }
    /* Full jitter: at the cap, draws cover the low and the high part of the range. */
    int low = 0, high = 0;
    for (int i = 0; i < 1000; i++) {
        int64_t delay = backoff_next_ms(b, 0);
        low += delay < 500;
        high += delay > 1500;
    }
    CHECK_MSG(low > 100 && high > 100, "low %d high %d of 1000", low, high);
    backoff_destroy(b);
}

static void test_default_random_source_is_bounded(void)
{
    struct backoff *b = make(10, 80, 0, NULL, NULL);
    REQUIRE(b != NULL);
    int64_t max_seen = 0;
    for (int i = 0; i < 500; i++) {
        int64_t delay = backoff_next_ms(b, 0);
        CHECK(delay >= 0 && delay <= 80);
        if (delay > max_seen)
            max_seen = delay;
    }
    CHECK(max_seen > 40);
    backoff_destroy(b);
}

static void test_reset_starts_over(void)
{
    uint64_t zero = 0;
    struct backoff *b = make(100, 10000, 0, fixed_random, &zero);
    REQUIRE(b != NULL);
    for (int i = 0; i < 5; i++)
        backoff_next_ms(b, 0);
    CHECK_EQ_INT(backoff_ceiling_ms(b), 3200);
    backoff_reset(b);
    CHECK_EQ_INT(backoff_attempts(b), 0);
    CHECK_EQ_INT(backoff_ceiling_ms(b), 100);
    backoff_destroy(b);
}

static void test_reset_after_healthy_connection(void)
{
    uint64_t zero = 0;
    struct backoff *b = make(100, 10000, 30000, fixed_random, &zero);
    REQUIRE(b != NULL);
    for (int i = 0; i < 4; i++)
        backoff_next_ms(b, 0);
    CHECK_EQ_INT(backoff_attempts(b), 4);

    /* Up for 10 s only: a flapping connection keeps the delay growing. */
    backoff_succeeded(b, 1000);
    backoff_next_ms(b, 11000);
    CHECK_EQ_INT(backoff_attempts(b), 5);
    CHECK_EQ_INT(backoff_ceiling_ms(b), 3200);

    /* Up for 30 s: healthy, the next failure starts from the base again. */
    backoff_succeeded(b, 20000);
    backoff_next_ms(b, 50000);
    CHECK_EQ_INT(backoff_attempts(b), 1);
    CHECK_EQ_INT(backoff_ceiling_ms(b), 200);

    /* A failure without a success in between never resets. */
    backoff_next_ms(b, 900000);
    CHECK_EQ_INT(backoff_attempts(b), 2);
    backoff_destroy(b);
}

static void test_rejects_bad_options(void)
{
    char err[256] = "";
    struct backoff_options opts = {.base_ms = 0, .cap_ms = 100};
    CHECK(backoff_create(&opts, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "base delay must be positive");
    opts.base_ms = 500;
    opts.cap_ms = 100;
    CHECK(backoff_create(&opts, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "maximum delay 100 ms is below the minimum delay 500 ms");
    backoff_destroy(NULL);
}

int main(void)
{
    RUN(test_ceiling_doubles_until_cap);
    RUN(test_delay_spans_zero_to_ceiling);
    RUN(test_random_delays_stay_in_bounds_and_spread);
    RUN(test_default_random_source_is_bounded);
    RUN(test_reset_starts_over);
    RUN(test_reset_after_healthy_connection);
    RUN(test_rejects_bad_options);
    return harness_finish();
}
