#include "consumer/lifecycle.h"

#include <string.h>

static const char *const state_names[LC_STATE_COUNT] = {
    "UNKNOWN", "STOPPED", "STARTING", "RUNNING", "PAUSING",
    "PAUSED",  "STOPPING", "COMPLETE", "FAILED",
};

const char *lifecycle_state_name(enum lifecycle_state state)
{
    return (unsigned)state < LC_STATE_COUNT ? state_names[state] : "UNKNOWN";
}

int lifecycle_state_parse(const char *name)
{
    for (int i = 0; i < LC_STATE_COUNT; i++)
        if (strcmp(name, state_names[i]) == 0)
            return i;
    return -1;
}
