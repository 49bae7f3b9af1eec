/*
 * A bump arena for cJSON parse trees that live for one call.
 *
 * cJSON allocates every node and every string of a parse on its own, and a frame of the
 * notification stream makes a few hundred of them: a tenth of the decode thread went to
 * the allocator. json_arena_parse() reads the frame with json_parse(), which takes them
 * from one block instead, and json_arena_release() deletes the tree and makes the whole
 * block free again.
 *
 * Contract:
 * - json_arena_install() replaces cJSON's allocation hooks for the whole process and
 *   must run before a second thread uses cJSON (main() calls it first; create calls it
 *   too). Outside a json_arena_parse() the hooks are plain malloc and free, so trees
 *   built or printed anywhere else are ordinary heap memory, freed with free() or
 *   cJSON_Delete() as before.
 * - An arena is used by one thread at a time and holds one tree: between
 *   json_arena_parse() and json_arena_release() on that thread, nothing of the tree may
 *   be kept (copy what is needed) and no other arena parse may run there (it aborts).
 *   Items added to the tree come from the heap and are freed by the release.
 * - A tree larger than the block continues on the heap; the parse never fails for
 *   lack of arena space.
 * - Under AddressSanitizer the released block is poisoned, so a pointer kept past the
 *   release is reported where it is used.
 */
#ifndef CRELAY_UTIL_JSON_ARENA_H
#define CRELAY_UTIL_JSON_ARENA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;
struct json_arena;

/* A campaign notification's tree takes a few KiB: this holds far larger frames in one
 * piece, and what does not fit continues on the heap. */
#define JSON_ARENA_DEFAULT_BYTES (128 * 1024)

void json_arena_install(void);

struct json_arena *json_arena_create(size_t capacity);
void json_arena_destroy(struct json_arena *arena);

/* cJSON_ParseWithLengthOpts(text, len, end, 0) with the tree in the arena (json_parse()
 * gives the same result). A second
 * parse on the thread before the release breaks the contract and aborts: the release
 * of either tree would free the other's memory. */
struct cJSON *json_arena_parse(struct json_arena *arena, const char *text, size_t len,
                               const char **end);
/* Deletes the tree (NULL allowed) and empties the arena. A failed parse (NULL) has
 * released already. */
void json_arena_release(struct json_arena *arena, struct cJSON *tree);

/* Whether the live tree has a string that a \u escape reading as U+0000 cut short:
 * the tree then holds less than the text it came from. */
bool json_arena_tree_is_cut(const struct json_arena *arena);

/* Allocations that did not fit and went to the heap, over the arena's life. */
uint64_t json_arena_overflows(const struct json_arena *arena);
/* The most bytes one tree took from the block. */
size_t json_arena_peak(const struct json_arena *arena);

#endif
