/*
 * A small TAP-producing test harness for the unit and integration test programs.
 *
 *   static void test_parses_duration(void) { CHECK_EQ_INT(parse("30s"), 30000); }
 *   int main(void) { RUN(test_parses_duration); return harness_finish(); }
 *
 * Each RUN is one TAP test point ("ok N - name" / "not ok N - name"); a failed
 * CHECK prints a "# file:line: ..." diagnostic and marks the current test failed but
 * lets it continue, so one run shows every broken expectation. tests/run.sh sums the
 * test points of every program into the closing "N passed, N failed" line.
 */
#ifndef CRELAY_TESTS_HARNESS_H
#define CRELAY_TESTS_HARNESS_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int harness_test_count;
static int harness_failed_count;
static int harness_current_failed;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            printf("#   %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);      \
            harness_current_failed = 1;                                              \
        }                                                                            \
    } while (0)

#define CHECK_MSG(cond, ...)                                                         \
    do {                                                                             \
        if (!(cond)) {                                                               \
            printf("#   %s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);      \
            printf(__VA_ARGS__);                                                     \
            printf("\n");                                                            \
            harness_current_failed = 1;                                              \
        }                                                                            \
    } while (0)

#define CHECK_EQ_INT(actual, expected)                                               \
    do {                                                                             \
        long long harness_a_ = (long long)(actual), harness_e_ = (long long)(expected); \
        if (harness_a_ != harness_e_) {                                              \
            printf("#   %s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, \
                   #actual, harness_a_, #expected, harness_e_);                      \
            harness_current_failed = 1;                                              \
        }                                                                            \
    } while (0)

#define CHECK_EQ_STR(actual, expected)                                               \
    do {                                                                             \
        const char *harness_a_ = (actual), *harness_e_ = (expected);                 \
        if (harness_a_ == NULL || harness_e_ == NULL ? harness_a_ != harness_e_      \
                                                     : strcmp(harness_a_, harness_e_) != 0) { \
            printf("#   %s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, \
                   #actual, harness_a_ ? harness_a_ : "(null)",                      \
                   harness_e_ ? harness_e_ : "(null)");                              \
            harness_current_failed = 1;                                              \
        }                                                                            \
    } while (0)

/* Substring check: error messages must name the file, line and key. */
#define CHECK_CONTAINS(haystack, needle)                                             \
    do {                                                                             \
        const char *harness_h_ = (haystack), *harness_n_ = (needle);                 \
        if (harness_h_ == NULL || strstr(harness_h_, harness_n_) == NULL) {          \
            printf("#   %s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__, \
                   harness_h_ ? harness_h_ : "(null)", harness_n_);                  \
            harness_current_failed = 1;                                              \
        }                                                                            \
    } while (0)

/* Stops the current test function (use after a failure that makes the rest moot). */
#define REQUIRE(cond)                                                                \
    do {                                                                             \
        if (!(cond)) {                                                               \
            printf("#   %s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond);    \
            harness_current_failed = 1;                                              \
            return;                                                                  \
        }                                                                            \
    } while (0)

static inline void harness_run(const char *name, void (*fn)(void))
{
    harness_current_failed = 0;
    fflush(stdout);
    fn();
    harness_test_count++;
    if (harness_current_failed) {
        harness_failed_count++;
        printf("not ok %d - %s\n", harness_test_count, name);
    } else {
        printf("ok %d - %s\n", harness_test_count, name);
    }
    fflush(stdout);
}

#define RUN(fn) harness_run(#fn, fn)

static inline int harness_finish(void)
{
    printf("1..%d\n", harness_test_count);
    return harness_failed_count == 0 ? 0 : 1;
}

#endif
