/* Unit tests for consumer/rest_budget: the rolling-minute limit and Retry-After pauses. */
#include "consumer/rest_budget.h"
#include "tests/harness.h"

static struct rest_budget *make(int per_minute)
{
    char err[256] = "";
    struct rest_budget *b = rest_budget_create(per_minute, err, sizeof err);
    if (b == NULL)
        printf("# rest_budget_create: %s\n", err);
    return b;
}

static void test_burst_up_to_limit_then_waits(void)
{
    struct rest_budget *b = make(5);
    REQUIRE(b != NULL);
    for (int i = 0; i < 5; i++)
        CHECK_EQ_INT(rest_budget_reserve(b, 1000 + i), 0);
    CHECK_EQ_INT(rest_budget_used(b, 1010), 5);
    /* The first call (t=1000) leaves the window at t=61000. */
    CHECK_EQ_INT(rest_budget_reserve(b, 1010), 61000 - 1010);
    CHECK_EQ_INT(rest_budget_used(b, 1010), 5); /* a refusal counts nothing */
    CHECK(rest_budget_reserve(b, 60999) > 0);
    CHECK_EQ_INT(rest_budget_reserve(b, 61000), 0);
    /* The next slot frees at t=61001, one ms after the second call's minute. */
    CHECK_EQ_INT(rest_budget_reserve(b, 61000), 1);
    rest_budget_destroy(b);
}

/* Drives the budget with a greedy caller that retries exactly when told, over ten
 * simulated minutes, and checks every rolling minute holds at most N calls. */
static void test_never_exceeds_limit_in_any_rolling_minute(void)
{
    enum { LIMIT = 240, HORIZON_MS = 600000 };
    struct rest_budget *b = make(LIMIT);
    REQUIRE(b != NULL);
    static int64_t calls[HORIZON_MS / 10];
    int ncalls = 0;
    int64_t now = 0;
    uint64_t jitter = 7;
    while (now < HORIZON_MS && ncalls < (int)(sizeof calls / sizeof calls[0])) {
        int64_t wait = rest_budget_reserve(b, now);
        if (wait == 0) {
            calls[ncalls++] = now;
            jitter = jitter * 6364136223846793005ULL + 1;
            now += (int64_t)((jitter >> 33) % 40); /* bursts of calls, some simultaneous */
        } else {
            CHECK(wait > 0);
            now += wait;
        }
    }
    int worst = 0;
    for (int first = 0, last = 0; last < ncalls; last++) {
        while (calls[last] - calls[first] >= REST_BUDGET_WINDOW_MS)
            first++;
        if (last - first + 1 > worst)
            worst = last - first + 1;
    }
    CHECK_EQ_INT(worst, LIMIT);
    /* A greedy caller is never held back more than necessary: ten minutes of
     * budget admit ten minutes' worth of calls. */
    CHECK_MSG(ncalls >= 10 * LIMIT - LIMIT / 10 && ncalls <= 10 * LIMIT, "%d calls", ncalls);
    rest_budget_destroy(b);
}

static void test_retry_after_pause_holds_every_call(void)
{
    struct rest_budget *b = make(100);
    REQUIRE(b != NULL);
    CHECK_EQ_INT(rest_budget_paused_until(b), 0);
    CHECK_EQ_INT(rest_budget_reserve(b, 0), 0);
    rest_budget_pause_until(b, 5000);
    CHECK_EQ_INT(rest_budget_paused_until(b), 5000);
    CHECK_EQ_INT(rest_budget_reserve(b, 1000), 4000);
    CHECK_EQ_INT(rest_budget_reserve(b, 4999), 1);
    /* A shorter pause arriving later does not cut the longer one short. */
    rest_budget_pause_until(b, 3000);
    CHECK_EQ_INT(rest_budget_paused_until(b), 5000);
    CHECK_EQ_INT(rest_budget_used(b, 4999), 1);
    CHECK_EQ_INT(rest_budget_reserve(b, 5000), 0);
    CHECK_EQ_INT(rest_budget_used(b, 5000), 2);
    rest_budget_pause_until(b, 9000);
    CHECK_EQ_INT(rest_budget_reserve(b, 6000), 3000);
    rest_budget_destroy(b);
}

static void test_rejects_bad_limits(void)
{
    char err[256] = "";
    CHECK(rest_budget_create(0, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "between 1 and 100000, got 0");
    CHECK(rest_budget_create(-3, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "got -3");
    struct rest_budget *b = make(1);
    REQUIRE(b != NULL);
    CHECK_EQ_INT(rest_budget_limit(b), 1);
    CHECK_EQ_INT(rest_budget_reserve(b, 0), 0);
    CHECK_EQ_INT(rest_budget_reserve(b, 0), 60000);
    rest_budget_destroy(b);
    rest_budget_destroy(NULL);
}

int main(void)
{
    RUN(test_burst_up_to_limit_then_waits);
    RUN(test_never_exceeds_limit_in_any_rolling_minute);
    RUN(test_retry_after_pause_holds_every_call);
    RUN(test_rejects_bad_limits);
    return harness_finish();
}
