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

#include "publishers/audit.h"
#include "util/json_arena.h"
#include "util/strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void differ(const char *what, const char *a, size_t a_len, const char *b, size_t b_len)
{
    fprintf(stderr, "%s:\n  %.*s\n  %.*s\n", what, (int)a_len, a, (int)b_len, b);
    abort();
}

static void check_layouts(const char *data_text, size_t raw_len,
                          const cJSON *tree)
{
    char tree_err[256] = "", text_err[256] = "";
    struct audit_seal_prep *from_tree = audit_seal_prepare_tree(
        data_text, "notification", raw_len, tree, tree_err, sizeof tree_err);
    struct audit_seal_prep *from_text = audit_seal_prepare(data_text, text_err,
                                                           sizeof text_err);
    if (from_text && !from_tree) {
        fprintf(stderr, "the text seals, the tree does not: %s\n", tree_err);
        abort();
    }
    size_t a_len, b_len;
    if (from_text && from_tree) {
        const char *a = audit_seal_prep_canonical(from_tree, &a_len);
        const char *b = audit_seal_prep_canonical(from_text, &b_len);
        if (a_len != b_len || memcmp(a, b, a_len) != 0)
            differ("canonical forms differ (tree, text)", a, a_len, b, b_len);
        a = audit_seal_prep_sealed(from_tree, &a_len);
        b = audit_seal_prep_sealed(from_text, &b_len);
        if (a_len != b_len || memcmp(a, b, a_len) != 0)
            differ("sealed texts differ (tree, text)", a, a_len, b, b_len);
    }
    if (from_tree) {
        const char *sealed = audit_seal_prep_sealed(from_tree, &a_len);
        cJSON *line = cJSON_ParseWithLength(sealed, a_len);
        struct strbuf verifier;
        strbuf_init(&verifier);
        char err[256] = "";
        if (!cJSON_IsObject(line) ||
            audit_canonical_json(line, "hash", &verifier, err, sizeof err) != 0) {
            fprintf(stderr, "the verifier cannot read the sealed text (%s): %.*s\n", err,
                    (int)a_len, sealed);
            abort();
        }
        const char *canonical = audit_seal_prep_canonical(from_tree, &b_len);
        if (verifier.len != b_len || memcmp(verifier.data, canonical, b_len) != 0)
            differ("the verifier's canonical form differs (verifier, tree)", verifier.data,
                   verifier.len, canonical, b_len);
        strbuf_free(&verifier);
        cJSON_Delete(line);
    }
    audit_seal_prep_free(from_tree);
    audit_seal_prep_free(from_text);
}

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
        check_layouts(data.data, size, tree);
        strbuf_free(&data);
    }
    json_arena_release(arena, tree);
    return 0;
}
