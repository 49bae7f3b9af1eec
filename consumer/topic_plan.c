#include "consumer/topic_plan.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strmap.h"
#include "util/xalloc.h"

struct slot {
    size_t size;
    bool dirty;
};

struct topic_plan {
    size_t max_topics;
    size_t max_channels;
    struct slot *slots;
    size_t slot_count;
    struct strmap *assignment; /* topic -> slot index + 1 (as a pointer-sized integer) */
    size_t unplaced;
};

struct topic_plan *topic_plan_create(size_t max_topics, size_t max_channels)
{
    struct topic_plan *plan = xcalloc(1, sizeof *plan);
    plan->max_topics = max_topics ? max_topics : 1;
    plan->max_channels = max_channels ? max_channels : 1;
    plan->slots = xcalloc(plan->max_channels, sizeof *plan->slots);
    plan->assignment = strmap_create();
    return plan;
}

void topic_plan_destroy(struct topic_plan *plan)
{
    if (!plan)
        return;
    strmap_destroy(plan->assignment);
    free(plan->slots);
    free(plan);
}

static long slot_from_value(void *value)
{
    return (long)(uintptr_t)value - 1;
}

static void *value_from_slot(size_t slot)
{
    return (void *)(uintptr_t)(slot + 1);
}

/* The open slot with the most room, or a new slot; -1 when every channel is full. */
static long slot_with_room(struct topic_plan *plan)
{
    long best = -1;
    for (size_t i = 0; i < plan->slot_count; i++) {
        if (plan->slots[i].size >= plan->max_topics)
            continue;
        if (best < 0 || plan->slots[i].size < plan->slots[best].size)
            best = (long)i;
    }
    if (best >= 0)
        return best;
    if (plan->slot_count < plan->max_channels)
        return (long)plan->slot_count++;
    return -1;
}

size_t topic_plan_update(struct topic_plan *plan, const char *const *topics, size_t count)
{
    struct strmap *wanted = strmap_create();
    for (size_t i = 0; i < count; i++)
        strmap_put(wanted, topics[i], (void *)1);

    /* Removals first, so their room is available to additions. Collect keys before
     * removing: iteration must not be mixed with removal. */
    size_t removal_count = 0;
    const char **removals = xcalloc(strmap_count(plan->assignment) + 1, sizeof *removals);
    const char *key;
    void *value;
    for (size_t it = 0; strmap_next(plan->assignment, &it, &key, &value);)
        if (!strmap_contains(wanted, key))
            removals[removal_count++] = key;
    for (size_t i = 0; i < removal_count; i++) {
        char *topic = strdup(removals[i]);
        if (!topic)
            abort();
        long slot = slot_from_value(strmap_remove(plan->assignment, topic));
        plan->slots[slot].size--;
        plan->slots[slot].dirty = true;
        free(topic);
    }
    free(removals);

    size_t unplaced = 0;
    for (size_t it = 0; strmap_next(wanted, &it, &key, NULL);) {
        if (strmap_contains(plan->assignment, key))
            continue;
        long slot = slot_with_room(plan);
        if (slot < 0) {
            unplaced++;
            continue;
        }
        plan->slots[slot].size++;
        plan->slots[slot].dirty = true;
        /* Safe: wanted is iterated, assignment is modified. */
        strmap_put(plan->assignment, key, value_from_slot((size_t)slot));
    }
    strmap_destroy(wanted);
    plan->unplaced = unplaced;
    return unplaced;
}

size_t topic_plan_slot_count(const struct topic_plan *plan)
{
    return plan->slot_count;
}

size_t topic_plan_slot_size(const struct topic_plan *plan, size_t slot)
{
    return slot < plan->slot_count ? plan->slots[slot].size : 0;
}

bool topic_plan_slot_dirty(const struct topic_plan *plan, size_t slot)
{
    return slot < plan->slot_count && plan->slots[slot].dirty;
}

void topic_plan_slot_clean(struct topic_plan *plan, size_t slot)
{
    if (slot < plan->slot_count)
        plan->slots[slot].dirty = false;
}

void topic_plan_slot_mark_dirty(struct topic_plan *plan, size_t slot)
{
    if (slot < plan->slot_count)
        plan->slots[slot].dirty = true;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char **topic_plan_slot_topics(const struct topic_plan *plan, size_t slot)
{
    size_t size = topic_plan_slot_size(plan, slot);
    const char **list = xcalloc(size + 1, sizeof *list);
    size_t n = 0;
    const char *key;
    void *value;
    for (size_t it = 0; strmap_next(plan->assignment, &it, &key, &value);)
        if (slot_from_value(value) == (long)slot && n < size)
            list[n++] = key;
    qsort(list, n, sizeof *list, compare_strings);
    return list;
}

long topic_plan_slot_of(const struct topic_plan *plan, const char *topic)
{
    void *value = strmap_get(plan->assignment, topic);
    return value ? slot_from_value(value) : -1;
}

size_t topic_plan_unplaced(const struct topic_plan *plan)
{
    return plan->unplaced;
}
