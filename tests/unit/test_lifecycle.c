/* Unit tests for consumer/lifecycle: the raw status mapping table and every pair of
 * the 9x9 transition matrix, against a table written out by hand from the graph. */
#include "consumer/lifecycle.h"
#include "tests/harness.h"

#define S LC_VERDICT_SAME
#define V LC_VERDICT_VALID
#define I LC_VERDICT_INVALID
#define U LC_VERDICT_UNCHECKED

/* Rows: from; columns: to. Order UNKNOWN, STOPPED, STARTING, RUNNING, PAUSING, PAUSED,
 * STOPPING, COMPLETE, FAILED. Worked out on paper from the edge list in the issue. */
static const enum lifecycle_verdict expected_matrix[LC_STATE_COUNT][LC_STATE_COUNT] = {
    /*             UNK STOPPED STARTING RUNNING PAUSING PAUSED STOPPING COMPLETE FAILED */
    /* UNKNOWN  */ {U, U, U, U, U, U, U, U, U},
    /* STOPPED  */ {U, S, V, V, I, I, V, V, V},
    /* STARTING */ {U, V, S, V, I, I, V, V, V},
    /* RUNNING  */ {U, V, I, S, V, V, V, V, V},
    /* PAUSING  */ {U, I, I, I, S, V, I, I, V},
    /* PAUSED   */ {U, V, V, V, I, S, V, V, V},
    /* STOPPING */ {U, V, I, I, I, I, S, V, V},
    /* COMPLETE */ {U, V, V, V, I, I, V, S, V},
    /* FAILED   */ {U, V, V, V, I, I, V, V, S},
};

static void test_transition_matrix_every_pair(void)
{
    int checked = 0;
    for (int from = 0; from < LC_STATE_COUNT; from++) {
        for (int to = 0; to < LC_STATE_COUNT; to++) {
            enum lifecycle_verdict got = lifecycle_transition_check(from, to);
            CHECK_MSG(got == expected_matrix[from][to], "%s -> %s: got %s, expected %s",
                      lifecycle_state_name(from), lifecycle_state_name(to),
                      lifecycle_verdict_name(got),
                      lifecycle_verdict_name(expected_matrix[from][to]));
            checked++;
        }
    }
    CHECK_EQ_INT(checked, 81);
}

static void test_named_transitions_from_the_issue(void)
{
    /* off -> on without the STARTING in between */
    CHECK_EQ_INT(lifecycle_transition_check(LC_STOPPED, LC_RUNNING), LC_VERDICT_VALID);
    /* on -> off without the STOPPING in between */
    CHECK_EQ_INT(lifecycle_transition_check(LC_RUNNING, LC_STOPPED), LC_VERDICT_VALID);
    /* force-stop of a paused campaign: off -> forced_stopping */
    CHECK_EQ_INT(lifecycle_transition_check(LC_STOPPED, LC_STOPPING), LC_VERDICT_VALID);
    /* a stopping campaign cannot come back on without being stopped first */
    CHECK_EQ_INT(lifecycle_transition_check(LC_STOPPING, LC_RUNNING), LC_VERDICT_INVALID);
    CHECK_EQ_INT(lifecycle_transition_check(LC_RUNNING, LC_STARTING), LC_VERDICT_INVALID);
    CHECK_EQ_INT(lifecycle_transition_check(LC_RUNNING, LC_RUNNING), LC_VERDICT_SAME);
    CHECK_EQ_INT(lifecycle_transition_check(LC_UNKNOWN, LC_UNKNOWN), LC_VERDICT_UNCHECKED);
    CHECK_EQ_INT(lifecycle_transition_check((enum lifecycle_state)42, LC_RUNNING),
                 LC_VERDICT_UNCHECKED);
}

static void test_transient_states(void)
{
    const bool expected[LC_STATE_COUNT] = {
        [LC_STARTING] = true, [LC_PAUSING] = true, [LC_STOPPING] = true,
    };
    for (int s = 0; s < LC_STATE_COUNT; s++)
        CHECK_MSG(lifecycle_is_transient(s) == expected[s], "%s", lifecycle_state_name(s));
}

static void test_default_map_covers_genesys_values(void)
{
    struct lifecycle_map *map = lifecycle_map_create_default();
    REQUIRE(map);
    CHECK_EQ_INT(lifecycle_map_count(map), 7);
    CHECK_EQ_INT(lifecycle_map_lookup(map, "on"), LC_RUNNING);
    CHECK_EQ_INT(lifecycle_map_lookup(map, "off"), LC_STOPPED);
    CHECK_EQ_INT(lifecycle_map_lookup(map, "stopping"), LC_STOPPING);
    CHECK_EQ_INT(lifecycle_map_lookup(map, "complete"), LC_COMPLETE);
    CHECK_EQ_INT(lifecycle_map_lookup(map, "invalid"), LC_FAILED);
    CHECK_EQ_INT(lifecycle_map_lookup(map, "forced_off"), LC_STOPPED);
    CHECK_EQ_INT(lifecycle_map_lookup(map, "forced_stopping"), LC_STOPPING);
    CHECK_EQ_INT(lifecycle_map_lookup(map, "ON"), LC_UNKNOWN);
    CHECK_EQ_INT(lifecycle_map_lookup(map, "paused_by_magic"), LC_UNKNOWN);
    CHECK_EQ_INT(lifecycle_map_lookup(map, ""), LC_UNKNOWN);
    CHECK_EQ_INT(lifecycle_map_lookup(map, NULL), LC_UNKNOWN);
    lifecycle_map_destroy(map);
}

static void test_map_is_replaceable_data(void)
{
    struct lifecycle_map *map = lifecycle_map_create_empty();
    CHECK_EQ_INT(lifecycle_map_lookup(map, "on"), LC_UNKNOWN);
    CHECK_EQ_INT(lifecycle_map_set(map, "off", LC_PAUSED), 0);
    CHECK_EQ_INT(lifecycle_map_set(map, "on", LC_RUNNING), 0);
    CHECK_EQ_INT(lifecycle_map_lookup(map, "off"), LC_PAUSED);
    CHECK_EQ_INT(lifecycle_map_set(map, "off", LC_STOPPED), 0);
    CHECK_EQ_INT(lifecycle_map_lookup(map, "off"), LC_STOPPED);
    CHECK_EQ_INT(lifecycle_map_count(map), 2);
    for (int i = 0; i < 20; i++) {
        char raw[32];
        snprintf(raw, sizeof raw, "custom_%d", i);
        CHECK_EQ_INT(lifecycle_map_set(map, raw, LC_FAILED), 0);
    }
    CHECK_EQ_INT(lifecycle_map_lookup(map, "custom_19"), LC_FAILED);
    CHECK_EQ_INT(lifecycle_map_count(map), 22);
    CHECK_EQ_INT(lifecycle_map_set(map, "", LC_FAILED), -1);
    CHECK_EQ_INT(lifecycle_map_set(map, NULL, LC_FAILED), -1);
    CHECK_EQ_INT(lifecycle_map_set(map, "x", LC_STATE_COUNT), -1);
    CHECK_EQ_INT(lifecycle_map_set(NULL, "x", LC_FAILED), -1);
    lifecycle_map_destroy(map);
    lifecycle_map_destroy(NULL);
}

static void test_names_round_trip(void)
{
    for (int s = 0; s < LC_STATE_COUNT; s++)
        CHECK_EQ_INT(lifecycle_state_parse(lifecycle_state_name(s)), s);
    CHECK_EQ_INT(lifecycle_state_parse("running"), -1);
    CHECK_EQ_INT(lifecycle_state_parse(NULL), -1);
    CHECK_EQ_STR(lifecycle_state_name((enum lifecycle_state)99), "UNKNOWN");
    CHECK_EQ_STR(lifecycle_verdict_name(LC_VERDICT_INVALID), "invalid");
    CHECK_EQ_STR(lifecycle_verdict_name(LC_VERDICT_SAME), "same");
}

int main(void)
{
    RUN(test_transition_matrix_every_pair);
    RUN(test_named_transitions_from_the_issue);
    RUN(test_transient_states);
    RUN(test_default_map_covers_genesys_values);
    RUN(test_map_is_replaceable_data);
    RUN(test_names_round_trip);
    return harness_finish();
}
