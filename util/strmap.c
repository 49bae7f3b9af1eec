#include "util/strmap.h"
#include "util/xalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Slots hold a key pointer, or NULL (never used), or TOMBSTONE (removed). */
static char tombstone_marker;
#define TOMBSTONE (&tombstone_marker)

struct slot {
    char *key;
    void *value;
    uint64_t hash;
};

struct strmap {
    struct slot *slots;
    size_t capacity; /* power of two */
    size_t count;
    size_t used;     /* count + tombstones */
};

static uint64_t hash_key(const char *key)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return h;
}

struct strmap *strmap_create(void)
{
    struct strmap *map = xcalloc(1, sizeof *map);
    map->capacity = 16;
    map->slots = xcalloc(map->capacity, sizeof *map->slots);
    return map;
}

void strmap_clear(struct strmap *map)
{
    for (size_t i = 0; i < map->capacity; i++) {
        if (map->slots[i].key && map->slots[i].key != TOMBSTONE)
            free(map->slots[i].key);
        map->slots[i].key = NULL;
    }
    map->count = 0;
    map->used = 0;
}

void strmap_destroy(struct strmap *map)
{
    if (!map)
        return;
    strmap_clear(map);
    free(map->slots);
    free(map);
}

static struct slot *find_slot(const struct strmap *map, const char *key, uint64_t hash)
{
    size_t mask = map->capacity - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        struct slot *s = &map->slots[i];
        if (!s->key)
            return NULL;
        if (s->key != TOMBSTONE && s->hash == hash && strcmp(s->key, key) == 0)
            return s;
    }
}

static void rehash(struct strmap *map, size_t capacity)
{
    struct slot *old = map->slots;
    size_t old_capacity = map->capacity;
    map->slots = xcalloc(capacity, sizeof *map->slots);
    map->capacity = capacity;
    map->used = map->count;
    size_t mask = capacity - 1;
    for (size_t i = 0; i < old_capacity; i++) {
        if (!old[i].key || old[i].key == TOMBSTONE)
            continue;
        size_t j = old[i].hash & mask;
        while (map->slots[j].key)
            j = (j + 1) & mask;
        map->slots[j] = old[i];
    }
    free(old);
}

void *strmap_get(const struct strmap *map, const char *key)
{
    struct slot *s = find_slot(map, key, hash_key(key));
    return s ? s->value : NULL;
}

bool strmap_contains(const struct strmap *map, const char *key)
{
    return find_slot(map, key, hash_key(key)) != NULL;
}

void *strmap_put(struct strmap *map, const char *key, void *value)
{
    uint64_t hash = hash_key(key);
    struct slot *existing = find_slot(map, key, hash);
    if (existing) {
        void *previous = existing->value;
        existing->value = value;
        return previous;
    }
    if ((map->used + 1) * 4 > map->capacity * 3)
        rehash(map, map->count * 2 + 2 > map->capacity ? map->capacity * 2 : map->capacity);
    size_t mask = map->capacity - 1;
    size_t i = hash & mask;
    while (map->slots[i].key && map->slots[i].key != TOMBSTONE)
        i = (i + 1) & mask;
    if (!map->slots[i].key)
        map->used++;
    map->slots[i].key = strdup(key);
    if (!map->slots[i].key)
        abort();
    map->slots[i].value = value;
    map->slots[i].hash = hash;
    map->count++;
    return NULL;
}

void *strmap_remove(struct strmap *map, const char *key)
{
    struct slot *s = find_slot(map, key, hash_key(key));
    if (!s)
        return NULL;
    void *value = s->value;
    free(s->key);
    s->key = TOMBSTONE;
    s->value = NULL;
    map->count--;
    return value;
}

size_t strmap_count(const struct strmap *map)
{
    return map->count;
}

bool strmap_next(const struct strmap *map, size_t *iterator, const char **key, void **value)
{
    while (*iterator < map->capacity) {
        struct slot *s = &map->slots[(*iterator)++];
        if (s->key && s->key != TOMBSTONE) {
            if (key)
                *key = s->key;
            if (value)
                *value = s->value;
            return true;
        }
    }
    return false;
}
