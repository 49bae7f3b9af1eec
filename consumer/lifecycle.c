#include "consumer/lifecycle.h"

#include <pthread.h>
#include <stdlib.h>
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
    if (!name)
        return -1;
    for (int i = 0; i < LC_STATE_COUNT; i++)
        if (strcmp(name, state_names[i]) == 0)
            return i;
    return -1;
}

bool lifecycle_is_transient(enum lifecycle_state state)
{
    return state == LC_STARTING || state == LC_PAUSING || state == LC_STOPPING;
}

const char *lifecycle_verdict_name(enum lifecycle_verdict verdict)
{
    switch (verdict) {
    case LC_VERDICT_SAME: return "same";
    case LC_VERDICT_VALID: return "valid";
    case LC_VERDICT_INVALID: return "invalid";
    case LC_VERDICT_UNCHECKED: return "unchecked";
    }
    return "unchecked";
}

/* ------------------------------------------------------------------------ */
/* Transition graph */

struct lifecycle_edge {
    enum lifecycle_state from;
    enum lifecycle_state to;
};

static const struct lifecycle_edge lifecycle_edges[] = {
    {LC_STOPPED, LC_STARTING},   {LC_STARTING, LC_RUNNING},  {LC_STARTING, LC_FAILED},
    {LC_STARTING, LC_STOPPING},  {LC_RUNNING, LC_PAUSING},   {LC_RUNNING, LC_STOPPING},
    {LC_RUNNING, LC_COMPLETE},   {LC_RUNNING, LC_FAILED},    {LC_PAUSING, LC_PAUSED},
    {LC_PAUSING, LC_FAILED},     {LC_PAUSED, LC_STARTING},   {LC_PAUSED, LC_STOPPING},
    {LC_STOPPING, LC_STOPPED},   {LC_STOPPING, LC_FAILED},   {LC_STOPPING, LC_COMPLETE},
    /* A force-stop of a paused campaign: off -> forced_stopping. */
    {LC_STOPPED, LC_STOPPING},
    {LC_COMPLETE, LC_STARTING},  {LC_FAILED, LC_STARTING},   {LC_FAILED, LC_STOPPED},
    {LC_STOPPED, LC_FAILED},     {LC_COMPLETE, LC_FAILED},
};

static unsigned char reachable[LC_STATE_COUNT][LC_STATE_COUNT];
static pthread_once_t reachable_once = PTHREAD_ONCE_INIT;

/* Breadth-first search from every state, expanding only through transient states:
 * a stable state reached on the way is an observation we would have seen. */
static void compute_reachability(void)
{
    bool adjacent[LC_STATE_COUNT][LC_STATE_COUNT] = {{false}};
    for (size_t i = 0; i < sizeof lifecycle_edges / sizeof lifecycle_edges[0]; i++)
        adjacent[lifecycle_edges[i].from][lifecycle_edges[i].to] = true;

    for (int start = 0; start < LC_STATE_COUNT; start++) {
        int queue[LC_STATE_COUNT];
        bool queued[LC_STATE_COUNT] = {false};
        int head = 0, tail = 0;
        queue[tail++] = start;
        queued[start] = true;
        while (head < tail) {
            int at = queue[head++];
            for (int next = 0; next < LC_STATE_COUNT; next++) {
                if (!adjacent[at][next])
                    continue;
                reachable[start][next] = 1;
                if (!queued[next] && lifecycle_is_transient((enum lifecycle_state)next)) {
                    queued[next] = true;
                    queue[tail++] = next;
                }
            }
        }
    }
}

enum lifecycle_verdict lifecycle_transition_check(enum lifecycle_state from,
                                                  enum lifecycle_state to)
{
    if ((unsigned)from >= LC_STATE_COUNT || (unsigned)to >= LC_STATE_COUNT ||
        from == LC_UNKNOWN || to == LC_UNKNOWN)
        return LC_VERDICT_UNCHECKED;
    if (from == to)
        return LC_VERDICT_SAME;
    pthread_once(&reachable_once, compute_reachability);
    return reachable[from][to] ? LC_VERDICT_VALID : LC_VERDICT_INVALID;
}

/* ------------------------------------------------------------------------ */
/* Mapping table: a handful of entries, so a small array beats a hash table. */

struct lifecycle_mapping {
    char *raw;
    enum lifecycle_state state;
};

struct lifecycle_map {
    struct lifecycle_mapping *entries;
    size_t count;
    size_t cap;
};

struct lifecycle_map *lifecycle_map_create_empty(void)
{
    struct lifecycle_map *map = calloc(1, sizeof *map);
    if (!map)
        abort();
    return map;
}

struct lifecycle_map *lifecycle_map_create_default(void)
{
    static const struct {
        const char *raw;
        enum lifecycle_state state;
    } genesys_defaults[] = {
        {"on", LC_RUNNING},         {"off", LC_STOPPED},      {"stopping", LC_STOPPING},
        {"complete", LC_COMPLETE},  {"invalid", LC_FAILED},   {"forced_off", LC_STOPPED},
        {"forced_stopping", LC_STOPPING},
    };
    struct lifecycle_map *map = lifecycle_map_create_empty();
    for (size_t i = 0; i < sizeof genesys_defaults / sizeof genesys_defaults[0]; i++)
        lifecycle_map_set(map, genesys_defaults[i].raw, genesys_defaults[i].state);
    return map;
}

void lifecycle_map_destroy(struct lifecycle_map *map)
{
    if (!map)
        return;
    for (size_t i = 0; i < map->count; i++)
        free(map->entries[i].raw);
    free(map->entries);
    free(map);
}

static struct lifecycle_mapping *find_mapping(const struct lifecycle_map *map, const char *raw)
{
    for (size_t i = 0; i < map->count; i++)
        if (strcmp(map->entries[i].raw, raw) == 0)
            return &map->entries[i];
    return NULL;
}

int lifecycle_map_set(struct lifecycle_map *map, const char *raw, enum lifecycle_state state)
{
    if (!map || !raw || !raw[0] || (unsigned)state >= LC_STATE_COUNT)
        return -1;
    struct lifecycle_mapping *existing = find_mapping(map, raw);
    if (existing) {
        existing->state = state;
        return 0;
    }
    if (map->count == map->cap) {
        size_t cap = map->cap ? map->cap * 2 : 8;
        struct lifecycle_mapping *entries = realloc(map->entries, cap * sizeof *entries);
        if (!entries)
            abort();
        map->entries = entries;
        map->cap = cap;
    }
    char *copy = strdup(raw);
    if (!copy)
        abort();
    map->entries[map->count].raw = copy;
    map->entries[map->count].state = state;
    map->count++;
    return 0;
}

enum lifecycle_state lifecycle_map_lookup(const struct lifecycle_map *map, const char *raw)
{
    if (!map || !raw)
        return LC_UNKNOWN;
    const struct lifecycle_mapping *mapping = find_mapping(map, raw);
    return mapping ? mapping->state : LC_UNKNOWN;
}

size_t lifecycle_map_count(const struct lifecycle_map *map)
{
    return map ? map->count : 0;
}
