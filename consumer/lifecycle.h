/*
 * Canonical campaign lifecycle: states, the raw campaignStatus -> state mapping
 * table, and the transition graph.
 *
 * Contract: the mapping is data. A default table covers the seven Genesys
 * campaignStatus values; configuration can replace it. Unknown raw values map to
 * LC_UNKNOWN and are kept verbatim by the cache, never rejected.
 *
 * The transition graph is an edge table between canonical states. A change from
 * one observed state to another is valid when the graph has a path between them
 * whose intermediate states are all transient (STARTING, PAUSING, STOPPING): the
 * platform may skip reporting those, so "off" followed by "on" is a legal
 * STOPPED -> STARTING -> RUNNING seen without its middle. The closure is computed
 * once into a table; every check is a lookup. Nothing here allocates except the
 * mapping table, and nothing reads a clock.
 */
#ifndef CRELAY_CONSUMER_LIFECYCLE_H
#define CRELAY_CONSUMER_LIFECYCLE_H

#include <stdbool.h>
#include <stddef.h>

enum lifecycle_state {
    LC_UNKNOWN = 0,
    LC_STOPPED,
    LC_STARTING,
    LC_RUNNING,
    LC_PAUSING,
    LC_PAUSED,
    LC_STOPPING,
    LC_COMPLETE,
    LC_FAILED,
    LC_STATE_COUNT
};

/* "STOPPED", "RUNNING", …; "UNKNOWN" for out-of-range values. */
const char *lifecycle_state_name(enum lifecycle_state state);
/* Parses a canonical state name (case-sensitive, upper case); -1 if not one. */
int lifecycle_state_parse(const char *name);

/* STARTING, PAUSING and STOPPING: states a campaign passes through on its own. */
bool lifecycle_is_transient(enum lifecycle_state state);

enum lifecycle_verdict {
    LC_VERDICT_SAME = 0,   /* from == to */
    LC_VERDICT_VALID,      /* reachable through transient states only */
    LC_VERDICT_INVALID,    /* impossible even through unobserved transient states */
    LC_VERDICT_UNCHECKED,  /* from or to is UNKNOWN: nothing can be said, not an alert */
};

/* "same", "valid", "invalid", "unchecked". */
const char *lifecycle_verdict_name(enum lifecycle_verdict verdict);
enum lifecycle_verdict lifecycle_transition_check(enum lifecycle_state from,
                                                  enum lifecycle_state to);

/* Raw campaignStatus -> canonical state table. Lookups are exact (the platform's
 * values are lower case). Not thread-safe for writes; concurrent lookups are fine. */
struct lifecycle_map;

struct lifecycle_map *lifecycle_map_create_empty(void);
/* on→RUNNING, off→STOPPED, stopping→STOPPING, complete→COMPLETE, invalid→FAILED,
 * forced_off→STOPPED, forced_stopping→STOPPING. */
struct lifecycle_map *lifecycle_map_create_default(void);
void lifecycle_map_destroy(struct lifecycle_map *map);
/* Adds or replaces one mapping. Returns 0, or -1 when raw is NULL or empty or state
 * is out of range. */
int lifecycle_map_set(struct lifecycle_map *map, const char *raw, enum lifecycle_state state);
/* LC_UNKNOWN for NULL or unmapped raw values. */
enum lifecycle_state lifecycle_map_lookup(const struct lifecycle_map *map, const char *raw);
size_t lifecycle_map_count(const struct lifecycle_map *map);

#endif
