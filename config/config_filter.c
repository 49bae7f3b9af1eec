#include "config/config_filter.h"

#include <string.h>

#include "config/config.h"

static const char *const patterns[] = {
    "campaign.state_changed",
    "campaign.config_changed",
    "campaign.progress",
    "campaign.dialer_stats",
    "campaign.discovered",
    "campaign.removed",
    "contactlist.import_status",
    "alert.transition_stuck",
    "alert.transition_invalid",
    "alert.campaign_failed",
    "alert.stream_gap",
    "alert.subscription_rejected",
    "alert.dead_letter",
    "alert.outbox_pressure",
    "alert.active_limit",
    "alert.webhook_disabled",
    "audit.notification",
    "audit.action",
    "campaign.*",
    "contactlist.*",
    "alert.*",
    "audit.*",
    "*",
    NULL,
};

const char *const *config_event_patterns(void)
{
    return patterns;
}

bool config_event_pattern_valid(const char *pattern)
{
    for (size_t i = 0; patterns[i] != NULL; i++)
        if (strcmp(pattern, patterns[i]) == 0)
            return true;
    return false;
}

static bool pattern_matches(const char *pattern, const char *type)
{
    if (strcmp(pattern, "*") == 0)
        return true;
    size_t len = strlen(pattern);
    if (len >= 2 && pattern[len - 1] == '*' && pattern[len - 2] == '.')
        return strncmp(pattern, type, len - 1) == 0; /* "alert." prefix, dot included */
    return strcmp(pattern, type) == 0;
}

bool config_event_filter_matches(const struct config_event_filter *filter,
                                 const char *unprefixed_type)
{
    if (filter == NULL || filter->count == 0)
        return true;
    if (unprefixed_type == NULL)
        return false;
    for (size_t i = 0; i < filter->count; i++)
        if (pattern_matches(filter->patterns[i], unprefixed_type))
            return true;
    return false;
}
