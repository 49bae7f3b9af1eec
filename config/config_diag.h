/*
 * Diagnostics for configuration loading: collects errors as
 * "file:line:column: key.path: message" lines, up to a limit, and suggests the
 * closest known word for a misspelt one.
 *
 * Contract: a diag collects every error it is given; config_diag_copy() writes them
 * in file order (line, then column), the first `limit` of them, and summarises the
 * rest in one closing line. Messages must never contain secret values: callers
 * describe what was expected instead.
 */
#ifndef CRELAY_CONFIG_DIAG_H
#define CRELAY_CONFIG_DIAG_H

#include <stddef.h>


struct config_diag_entry;

struct config_diag {
    const char *name; /* file name prefixed to every line; not owned */
    struct config_diag_entry *entries;
    size_t entry_count;
    size_t entry_capacity;
    int count; /* every error reported, kept or not */
    int limit; /* how many config_diag_copy() writes out */
};

void config_diag_init(struct config_diag *diag, const char *name, int limit);
void config_diag_free(struct config_diag *diag);

/* line and column are 1-based; line 0 leaves the position out. An empty or NULL path
 * leaves the key path out. */
void config_diag_add(struct config_diag *diag, int line, int column, const char *path,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Sorts the collected errors into file order and copies them, one per line, into
 * errstr (truncated to fit). */
void config_diag_copy(struct config_diag *diag, char *errstr, size_t errstr_size);

/* Levenshtein distance, capped: returns cap + 1 as soon as it must exceed cap. */
int config_edit_distance(const char *a, const char *b, int cap);

/* The candidate closest to word within edit distance 2, or NULL. Ties go to the
 * first candidate. candidates is NULL-terminated. */
const char *config_suggest(const char *word, const char *const *candidates);

#endif
