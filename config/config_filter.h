/*
 * The event-type catalogue that sink filters are written against, and filter
 * validation. Matching itself is config_event_filter_matches() in config/config.h.
 *
 * Contract: names are unprefixed ("campaign.state_changed"); the configurable
 * events.type_prefix is not part of them. A valid pattern is a catalogue name, a
 * family wildcard ("campaign.*", "contactlist.*", "alert.*", "audit.*") or "*".
 */
#ifndef CRELAY_CONFIG_FILTER_H
#define CRELAY_CONFIG_FILTER_H

#include <stdbool.h>

/* Every valid pattern, NULL-terminated: catalogue names, then the wildcards. */
const char *const *config_event_patterns(void);
bool config_event_pattern_valid(const char *pattern);

#endif
