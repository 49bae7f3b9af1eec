/* Unit tests for util/strmap and consumer/topic_plan (sharding topics over channels). */
#include "consumer/topic_plan.h"
#include "tests/harness.h"
#include "util/strmap.h"

static void test_strmap_put_get_remove_grow(void)
{
    struct strmap *map = strmap_create();
    char key[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        CHECK(strmap_put(map, key, (void *)(intptr_t)(i + 1)) == NULL);
    }
    CHECK_EQ_INT(strmap_count(map), 5000);
    CHECK_EQ_INT((intptr_t)strmap_get(map, "k4999"), 5000);
    CHECK(strmap_get(map, "k5000") == NULL);
    CHECK_EQ_INT((intptr_t)strmap_put(map, "k7", (void *)99), 8);
    CHECK_EQ_INT((intptr_t)strmap_get(map, "k7"), 99);
    for (int i = 0; i < 5000; i += 2) {
        snprintf(key, sizeof key, "k%d", i);
        CHECK(strmap_remove(map, key) != NULL);
    }
    CHECK_EQ_INT(strmap_count(map), 2500);
    CHECK(strmap_get(map, "k2") == NULL);
    CHECK_EQ_INT((intptr_t)strmap_get(map, "k3"), 4);
    /* Re-adding removed keys reuses tombstones and keeps lookups right. */
    for (int i = 0; i < 5000; i += 2) {
        snprintf(key, sizeof key, "k%d", i);
        strmap_put(map, key, (void *)1);
    }
    CHECK_EQ_INT(strmap_count(map), 5000);
    size_t seen = 0;
    const char *k;
    for (size_t it = 0; strmap_next(map, &it, &k, NULL);)
        seen++;
    CHECK_EQ_INT(seen, 5000);
    strmap_destroy(map);
}

static const char **make_topics(int first, int count)
{
    const char **topics = calloc((size_t)count + 1, sizeof *topics);
    for (int i = 0; i < count; i++) {
        char *t = malloc(64);
        snprintf(t, 64, "v2.outbound.campaigns.%08d", first + i);
        topics[i] = t;
    }
    return topics;
}

static void free_topics(const char **topics, int count)
{
    for (int i = 0; i < count; i++)
        free((void *)topics[i]);
    free(topics);
}

static void test_fills_channels_up_to_the_topic_limit(void)
{
    struct topic_plan *plan = topic_plan_create(1000, 20);
    const char **topics = make_topics(0, 2500);
    CHECK_EQ_INT(topic_plan_update(plan, topics, 2500), 0);
    CHECK_EQ_INT(topic_plan_slot_count(plan), 3);
    size_t total = 0;
    for (size_t s = 0; s < topic_plan_slot_count(plan); s++) {
        CHECK(topic_plan_slot_size(plan, s) <= 1000);
        CHECK(topic_plan_slot_dirty(plan, s));
        total += topic_plan_slot_size(plan, s);
    }
    CHECK_EQ_INT(total, 2500);
    const char **list = topic_plan_slot_topics(plan, 0);
    size_t n = 0;
    while (list[n])
        n++;
    CHECK_EQ_INT(n, topic_plan_slot_size(plan, 0));
    for (size_t i = 1; i < n; i++)
        CHECK(strcmp(list[i - 1], list[i]) < 0);
    free(list);
    free_topics(topics, 2500);
    topic_plan_destroy(plan);
}

static void test_kept_topics_stay_on_their_channel(void)
{
    struct topic_plan *plan = topic_plan_create(10, 5);
    const char **first = make_topics(0, 25);
    topic_plan_update(plan, first, 25);
    long before[25];
    for (int i = 0; i < 25; i++)
        before[i] = topic_plan_slot_of(plan, first[i]);
    for (size_t s = 0; s < topic_plan_slot_count(plan); s++)
        topic_plan_slot_clean(plan, s);

    /* Drop topics 0..4, keep 5..24, add 25..34. */
    const char **second = make_topics(5, 30);
    CHECK_EQ_INT(topic_plan_update(plan, second, 30), 0);
    for (int i = 5; i < 25; i++)
        CHECK_EQ_INT(topic_plan_slot_of(plan, first[i]), before[i]);
    for (int i = 0; i < 5; i++)
        CHECK_EQ_INT(topic_plan_slot_of(plan, first[i]), -1);
    size_t total = 0;
    for (size_t s = 0; s < topic_plan_slot_count(plan); s++) {
        CHECK(topic_plan_slot_size(plan, s) <= 10);
        total += topic_plan_slot_size(plan, s);
    }
    CHECK_EQ_INT(total, 30);
    CHECK_EQ_INT(topic_plan_slot_count(plan), 3);

    /* An update that changes nothing leaves every slot clean. */
    for (size_t s = 0; s < topic_plan_slot_count(plan); s++)
        topic_plan_slot_clean(plan, s);
    topic_plan_update(plan, second, 30);
    for (size_t s = 0; s < topic_plan_slot_count(plan); s++)
        CHECK(!topic_plan_slot_dirty(plan, s));
    free_topics(first, 25);
    free_topics(second, 30);
    topic_plan_destroy(plan);
}

static void test_reports_topics_beyond_every_limit(void)
{
    struct topic_plan *plan = topic_plan_create(1000, 20);
    const char **topics = make_topics(0, 20005);
    CHECK_EQ_INT(topic_plan_update(plan, topics, 20005), 5);
    CHECK_EQ_INT(topic_plan_unplaced(plan), 5);
    CHECK_EQ_INT(topic_plan_slot_count(plan), 20);
    for (size_t s = 0; s < 20; s++)
        CHECK_EQ_INT(topic_plan_slot_size(plan, s), 1000);
    /* Once room frees up, the unplaced topics are placed. */
    CHECK_EQ_INT(topic_plan_update(plan, topics + 10, 19995), 0);
    CHECK_EQ_INT(topic_plan_unplaced(plan), 0);
    free_topics(topics, 20005);
    topic_plan_destroy(plan);
}

int main(void)
{
    RUN(test_strmap_put_get_remove_grow);
    RUN(test_fills_channels_up_to_the_topic_limit);
    RUN(test_kept_topics_stay_on_their_channel);
    RUN(test_reports_topics_beyond_every_limit);
    return harness_finish();
}
