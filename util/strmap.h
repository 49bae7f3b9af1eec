/*
 * A hash map from NUL-terminated strings to pointers, with open addressing.
 *
 * Contract: keys are copied and owned by the map; values are borrowed (the map
 * never frees them). O(1) expected get/put/remove. Iteration order is unspecified
 * and iteration must not be mixed with put/remove.
 */
#ifndef CRELAY_UTIL_STRMAP_H
#define CRELAY_UTIL_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

struct strmap;

struct strmap *strmap_create(void);
void strmap_destroy(struct strmap *map);

void *strmap_get(const struct strmap *map, const char *key);
bool strmap_contains(const struct strmap *map, const char *key);
/* Inserts or replaces; returns the previous value (NULL if none). */
void *strmap_put(struct strmap *map, const char *key, void *value);
/* Removes; returns the removed value (NULL if absent). */
void *strmap_remove(struct strmap *map, const char *key);
size_t strmap_count(const struct strmap *map);
void strmap_clear(struct strmap *map);

/* Iteration: for (size_t it = 0; strmap_next(map, &it, &key, &value);) … */
bool strmap_next(const struct strmap *map, size_t *iterator, const char **key, void **value);

#endif
