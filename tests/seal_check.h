/*
 * seal_layouts_agree(): what test_audit and fuzz_seal_tree hold the audit layout from a
 * frame's tree to. data is an audit.notification's data whose "notification" member is
 * the raw_len bytes tree was parsed from. The layout from the tree must exist wherever
 * the text canonicalizer's does and be identical to it, and wherever it exists it must
 * be what the verifier computes: audit_canonical_json() of cJSON's reading of the sealed
 * text, "hash" left out. Returns whether all that holds, why saying otherwise;
 * *tree_sealed and *text_sealed tell which layouts exist.
 */
#ifndef CRELAY_TESTS_SEAL_CHECK_H
#define CRELAY_TESTS_SEAL_CHECK_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "publishers/audit.h"
#include "util/strbuf.h"

static inline bool seal_verifier_agrees(const struct audit_seal_prep *prep, char *why,
                                        size_t why_size)
{
    size_t sealed_len, canonical_len;
    const char *sealed = audit_seal_prep_sealed(prep, &sealed_len);
    const char *canonical = audit_seal_prep_canonical(prep, &canonical_len);
    cJSON *line = cJSON_ParseWithLength(sealed, sealed_len);
    struct strbuf verifier;
    strbuf_init(&verifier);
    char err[256] = "";
    bool agrees = false;
    if (!cJSON_IsObject(line) ||
        audit_canonical_json(line, "hash", &verifier, err, sizeof err) != 0)
        snprintf(why, why_size, "the verifier cannot read the sealed text (%s): %.*s", err,
                 (int)sealed_len, sealed);
    else if (verifier.len != canonical_len || memcmp(verifier.data, canonical, canonical_len))
        snprintf(why, why_size, "the verifier reads %s where the tree gave %.*s",
                 verifier.data, (int)canonical_len, canonical);
    else
        agrees = true;
    strbuf_free(&verifier);
    cJSON_Delete(line);
    return agrees;
}

static inline bool seal_layouts_agree(const char *data, size_t raw_len, const cJSON *tree,
                                      bool *tree_sealed, bool *text_sealed, char *why,
                                      size_t why_size)
{
    char tree_err[256] = "", text_err[256] = "";
    struct audit_seal_prep *from_tree = audit_seal_prepare_tree(
        data, "notification", raw_len, tree, tree_err, sizeof tree_err);
    struct audit_seal_prep *from_text = audit_seal_prepare(data, text_err, sizeof text_err);
    *tree_sealed = from_tree != NULL;
    *text_sealed = from_text != NULL;
    bool agrees = true;
    if (from_text && !from_tree) {
        snprintf(why, why_size, "the text seals, the tree does not: %s", tree_err);
        agrees = false;
    } else if (from_text) {
        size_t a_len, b_len;
        const char *a = audit_seal_prep_canonical(from_tree, &a_len);
        const char *b = audit_seal_prep_canonical(from_text, &b_len);
        if (a_len != b_len || memcmp(a, b, a_len) != 0) {
            snprintf(why, why_size, "canonical forms differ: %.*s (tree) against %.*s (text)",
                     (int)a_len, a, (int)b_len, b);
            agrees = false;
        }
        a = audit_seal_prep_sealed(from_tree, &a_len);
        b = audit_seal_prep_sealed(from_text, &b_len);
        if (agrees && (a_len != b_len || memcmp(a, b, a_len) != 0)) {
            snprintf(why, why_size, "sealed texts differ: %.*s (tree) against %.*s (text)",
                     (int)a_len, a, (int)b_len, b);
            agrees = false;
        }
    }
    if (agrees && from_tree)
        agrees = seal_verifier_agrees(from_tree, why, why_size);
    audit_seal_prep_free(from_tree);
    audit_seal_prep_free(from_text);
    return agrees;
}

#endif
