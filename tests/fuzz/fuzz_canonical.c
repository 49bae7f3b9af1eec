/*
 * libFuzzer target for the audit chain's canonical form: whatever the one-pass text
 * canonicalizer the relay seals with accepts, the verifier's tree-based canonicalizer
 * must accept too and turn into exactly the same bytes. A difference aborts: a sealed
 * hash a verifier cannot reproduce is a broken chain. The text canonicalizer may refuse
 * more (escapes cJSON would turn into a NUL and cut the string at): the relay then
 * seals nothing, which the chain reports, rather than something unverifiable.
 */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "publishers/audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    /* The relay seals text without NUL bytes (the builder refuses them); cJSON stops
     * at one, which the text canonicalizer would call trailing data. */
    if (memchr(text, '\0', size))
        return 0;
    const char *parse_end = NULL;
    cJSON *tree = cJSON_ParseWithLengthOpts(text, size, &parse_end, 0);
    struct strbuf from_text, from_tree;
    strbuf_init(&from_text);
    strbuf_init(&from_tree);
    char text_err[256] = "", tree_err[256] = "";
    bool skipped = false;
    int text_status = audit_canonical_text(text, size, "hash", &skipped, &from_text, text_err,
                                           sizeof text_err);
    /* cJSON accepts a value followed by anything; the canonicalizer, like the verifier's
     * reading of a whole line, wants nothing but space after it. */
    bool whole = tree != NULL;
    for (const char *p = parse_end; whole && p < text + size; p++)
        if ((unsigned char)*p > ' ')
            whole = false;
    int tree_status = whole ? audit_canonical_json(tree, "hash", &from_tree, tree_err,
                                                   sizeof tree_err)
                            : -1;
    if (text_status == 0 &&
        (tree_status != 0 || from_text.len != from_tree.len ||
         memcmp(from_text.data, from_tree.data, from_text.len) != 0)) {
        fprintf(stderr, "canonical forms differ: text %d (%s) \"%s\", tree %d (%s) \"%s\"\n",
                text_status, text_err, from_text.data ? from_text.data : "", tree_status,
                tree_err, from_tree.data ? from_tree.data : "");
        abort();
    }
    if (text_status == 0 && cJSON_IsObject(tree) &&
        skipped != (cJSON_GetObjectItemCaseSensitive(tree, "hash") != NULL)) {
        fprintf(stderr, "skip_key reported %d for a tree that %s \"hash\"\n", skipped,
                skipped ? "lacks" : "has");
        abort();
    }
    strbuf_free(&from_text);
    strbuf_free(&from_tree);
    cJSON_Delete(tree);
    return 0;
}
