/*
 * libFuzzer target for sealing an audit notification from the frame's tree
 * (audit_seal_prepare_tree()), which the relay does for every frame it decodes. The
 * bytes are taken as a frame; when its tree is one the consumer would hand on (an
 * object, nothing but white space after it, no string cut short by a \u escape), the
 * layout from the tree must be:
 *  - what the verifier computes: audit_canonical_json() of cJSON's reading of the
 *    sealed text, "hash" left out, is the layout's canonical form byte for byte;
 *  - where the text canonicalizer lays the same data out too, the very same layout.
 * The tree may seal where the text canonicalizer refuses (a number longer than 63
 * characters, which it reads as cJSON did before Debian's fix of CVE-2023-26819); the
 * reverse, and any difference, aborts.
 */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/seal_check.h"
#include "util/json_arena.h"
#include "util/strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    static struct json_arena *arena;
    if (!arena)
        arena = json_arena_create(JSON_ARENA_DEFAULT_BYTES);
    const char *raw = (const char *)bytes;
    /* The builder refuses a frame with a NUL byte. */
    if (size == 0 || memchr(raw, '\0', size))
        return 0;
    const char *end = NULL;
    cJSON *tree = json_arena_parse(arena, raw, size, &end);
    if (!tree)
        return 0;
    /* What the decoder keeps: an object followed by nothing but its white space. */
    bool kept = cJSON_IsObject(tree) && !json_arena_tree_is_cut(arena);
    for (const char *p = end; kept && p < raw + size; p++)
        kept = *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n';
    if (kept) {
        struct strbuf data;
        strbuf_init(&data);
        strbuf_append(&data, "{\"topic\":\"v2.outbound.campaigns.c-1\",\"correlationId\":null,"
                             "\"receivedAt\":\"2026-11-23T00:00:00.000Z\",\"notification\":");
        strbuf_append_len(&data, raw, size);
        strbuf_append_char(&data, '}');
        bool tree_sealed, text_sealed;
        char why[1024];
        if (!seal_layouts_agree(data.data, size, tree, &tree_sealed, &text_sealed, why,
                                sizeof why)) {
            fprintf(stderr, "%s\n", why);
            abort();
        }
        strbuf_free(&data);
    }
    json_arena_release(arena, tree);
    return 0;
}
