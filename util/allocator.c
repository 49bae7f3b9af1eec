#include "util/allocator.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

typedef int (*mi_version_fn)(void);
typedef bool (*mi_is_in_heap_region_fn)(const void *p);

char *allocator_describe(char *out, size_t size)
{
    /* Looked up at run time: the sanitizer build does not link mimalloc at all. */
    mi_version_fn version = (mi_version_fn)dlsym(RTLD_DEFAULT, "mi_version");
    mi_is_in_heap_region_fn owns =
        (mi_is_in_heap_region_fn)dlsym(RTLD_DEFAULT, "mi_is_in_heap_region");
    bool serves_malloc = false;
    if (version && owns) {
        void *probe = malloc(64);
        serves_malloc = probe && owns(probe);
        free(probe);
    }
    if (serves_malloc) {
        int v = version(); /* 209 is 2.0.9 */
        snprintf(out, size, "mimalloc %d.%d.%d", v / 100, v / 10 % 10, v % 10);
    } else {
        snprintf(out, size, "system malloc");
    }
    return out;
}
