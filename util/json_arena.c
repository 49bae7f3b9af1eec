#include "util/json_arena.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/json_parse.h"
#include "util/xalloc.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define ARENA_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define ARENA_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define ARENA_POISON(p, n) ((void)(p), (void)(n))
#define ARENA_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

struct json_arena {
    char *block;
    size_t capacity;
    size_t used;
    size_t peak;
    uint64_t overflows;
    bool tree_cut; /* the live tree has a string cut short (json_parse_space) */
};

/* The arena whose tree is live on this thread: the free hook leaves its block alone. */
static _Thread_local struct json_arena *live_arena;

/* Arena memory is given back all at once by the release; only the live arena can own
 * a pointer, since a tree must not outlive its release. */
static void arena_free(void *p)
{
    struct json_arena *arena = live_arena;
    if (arena && (char *)p >= arena->block && (char *)p < arena->block + arena->capacity)
        return;
    free(p);
}

static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;

static void install_hooks(void)
{
    cJSON_Hooks hooks = {.malloc_fn = NULL, .free_fn = arena_free};
    cJSON_InitHooks(&hooks);
}

void json_arena_install(void)
{
    pthread_once(&hooks_once, install_hooks);
}

struct json_arena *json_arena_create(size_t capacity)
{
    json_arena_install();
    struct json_arena *arena = xcalloc(1, sizeof *arena);
    arena->capacity = capacity;
    arena->block = xmalloc(capacity ? capacity : 1);
    ARENA_POISON(arena->block, capacity);
    return arena;
}

void json_arena_destroy(struct json_arena *arena)
{
    if (!arena)
        return;
    if (live_arena == arena)
        live_arena = NULL;
    ARENA_UNPOISON(arena->block, arena->capacity);
    free(arena->block);
    free(arena);
}

cJSON *json_arena_parse(struct json_arena *arena, const char *text, size_t len,
                        const char **end)
{
    if (live_arena) {
        fprintf(stderr, "json_arena: a second tree parsed on a thread before the release of "
                        "the first\n");
        abort();
    }
    live_arena = arena;
    ARENA_UNPOISON(arena->block, arena->capacity);
    struct json_parse_space space = {
        .block = arena->block,
        .next = arena->block,
        .limit = arena->block + arena->capacity,
    };
    cJSON *tree = json_parse(&space, text, len, end);
    arena->used = (size_t)(space.next - arena->block);
    arena->overflows += space.overflows;
    arena->tree_cut = space.cut_strings > 0;
    ARENA_POISON(arena->block + arena->used, arena->capacity - arena->used);
    if (!tree) /* the parse freed what it had put on the heap */
        json_arena_release(arena, NULL);
    return tree;
}

void json_arena_release(struct json_arena *arena, cJSON *tree)
{
    cJSON_Delete(tree);
    if (live_arena != arena)
        return;
    if (arena->used > arena->peak)
        arena->peak = arena->used;
    ARENA_POISON(arena->block, arena->used);
    arena->used = 0;
    live_arena = NULL;
}

bool json_arena_tree_is_cut(const struct json_arena *arena)
{
    return arena->tree_cut;
}

uint64_t json_arena_overflows(const struct json_arena *arena)
{
    return arena->overflows;
}

size_t json_arena_peak(const struct json_arena *arena)
{
    return arena->peak;
}
