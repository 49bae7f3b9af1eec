/*
 * Canonical campaign lifecycle: states, the raw campaignStatus -> state mapping
 * table, and the transition graph.
 *
 * Contract: the mapping is data. A default table covers the seven Genesys
 * campaignStatus values; configuration can replace it. Unknown raw values map to
 * LC_UNKNOWN and are kept verbatim by the cache, never rejected.
 */
#ifndef CRELAY_CONSUMER_LIFECYCLE_H
#define CRELAY_CONSUMER_LIFECYCLE_H

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

#endif
