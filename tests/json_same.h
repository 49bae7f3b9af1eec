/*
 * json_same_tree(): whether two cJSON trees are the same parse, for the tests and the
 * fuzz target that hold util/json_parse to cJSON's parser. Everything a reader of a
 * tree can see counts: types, names and strings as C strings, valueint, valuedouble bit
 * for bit (so -0 differs from 0), the order of children and the prev links, including
 * the first child's prev at the last child that cJSON_AddItemToArray() relies on. On a
 * difference, why names it (a path and what differs).
 */
#ifndef CRELAY_TESTS_JSON_SAME_H
#define CRELAY_TESTS_JSON_SAME_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static inline bool json_same_string(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static inline bool json_same_tree_at(const cJSON *a, const cJSON *b, const char *path, char *why,
                              size_t why_size)
{
    if (a->type != b->type) {
        snprintf(why, why_size, "%.120s: type %d against %d", path, a->type, b->type);
        return false;
    }
    if (!json_same_string(a->string, b->string)) {
        snprintf(why, why_size, "%.120s: name \"%s\" against \"%s\"", path,
                 a->string ? a->string : "(none)", b->string ? b->string : "(none)");
        return false;
    }
    if (!json_same_string(a->valuestring, b->valuestring)) {
        snprintf(why, why_size, "%.120s: string \"%s\" against \"%s\"", path,
                 a->valuestring ? a->valuestring : "(none)",
                 b->valuestring ? b->valuestring : "(none)");
        return false;
    }
    if (a->valueint != b->valueint || memcmp(&a->valuedouble, &b->valuedouble,
                                             sizeof a->valuedouble) != 0) {
        snprintf(why, why_size, "%.120s: number %.17g (%d) against %.17g (%d)", path,
                 a->valuedouble, a->valueint, b->valuedouble, b->valueint);
        return false;
    }
    const cJSON *ca = a->child, *cb = b->child, *last_a = NULL, *last_b = NULL;
    for (int index = 0; ca || cb; index++) {
        char child_path[256];
        snprintf(child_path, sizeof child_path, "%s/%d", path, index);
        if (!ca || !cb) {
            snprintf(why, why_size, "%.120s: %s has no such child", child_path,
                     ca ? "the second" : "the first");
            return false;
        }
        if ((index > 0) && (ca->prev != last_a || cb->prev != last_b)) {
            snprintf(why, why_size, "%.120s: prev does not link the previous child", child_path);
            return false;
        }
        if (!json_same_tree_at(ca, cb, child_path, why, why_size))
            return false;
        last_a = ca;
        last_b = cb;
        ca = ca->next;
        cb = cb->next;
    }
    if (a->child && (a->child->prev != last_a || b->child->prev != last_b)) {
        snprintf(why, why_size, "%.120s: the first child's prev is not the last child", path);
        return false;
    }
    return true;
}

static inline bool json_same_tree(const cJSON *a, const cJSON *b, char *why, size_t why_size)
{
    if (!a || !b) {
        snprintf(why, why_size, "%s", a || b ? "one tree is missing" : "");
        return !a && !b;
    }
    return json_same_tree_at(a, b, "", why, why_size);
}

#endif
