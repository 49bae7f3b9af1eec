/*
 * Shards notification topics across channels within the platform's limits
 * (at most max_topics topics per channel, at most max_channels channels).
 *
 * Contract: pure bookkeeping, no I/O. topic_plan_update() takes the complete set
 * of topics the relay wants and moves the plan towards it with the fewest changes:
 * a topic that stays wanted stays on its channel (so its notifications never
 * pause), unwanted topics are removed, new topics fill the channels with the most
 * room first and open new channels only when every open channel is full. Each
 * channel slot whose topic list changed is marked dirty until the caller, having
 * PUT the slot's full list to the platform, clears the mark. Topics that fit
 * nowhere are counted as unplaced (the caller raises an alert); they are retried
 * on every update.
 */
#ifndef CRELAY_CONSUMER_TOPIC_PLAN_H
#define CRELAY_CONSUMER_TOPIC_PLAN_H

#include <stdbool.h>
#include <stddef.h>

struct topic_plan;

struct topic_plan *topic_plan_create(size_t max_topics, size_t max_channels);
void topic_plan_destroy(struct topic_plan *plan);

/* Returns how many wanted topics could not be placed. */
size_t topic_plan_update(struct topic_plan *plan, const char *const *topics, size_t count);

/* Slots are numbered 0..slot_count-1 and never renumbered; an emptied slot stays
 * (with zero topics) so its channel can be reused. */
size_t topic_plan_slot_count(const struct topic_plan *plan);
size_t topic_plan_slot_size(const struct topic_plan *plan, size_t slot);
bool topic_plan_slot_dirty(const struct topic_plan *plan, size_t slot);
void topic_plan_slot_clean(struct topic_plan *plan, size_t slot);
void topic_plan_slot_mark_dirty(struct topic_plan *plan, size_t slot);
/* The slot's topics, sorted, as a NULL-terminated array the caller frees with
 * free() (the strings belong to the plan and stay valid until the next update). */
const char **topic_plan_slot_topics(const struct topic_plan *plan, size_t slot);
/* Which slot holds topic, or -1. */
long topic_plan_slot_of(const struct topic_plan *plan, const char *topic);
size_t topic_plan_unplaced(const struct topic_plan *plan);

#endif
