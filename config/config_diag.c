#include "config/config_diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"

/* Errors beyond this many are counted but not kept at all. */
#define DIAG_KEEP_MAX 1000

struct config_diag_entry {
    int line;
    int column;
    size_t order;
    char *text;
};

void config_diag_init(struct config_diag *diag, const char *name, int limit)
{
    memset(diag, 0, sizeof *diag);
    diag->name = name;
    diag->limit = limit > 0 ? limit : 1;
}

void config_diag_free(struct config_diag *diag)
{
    if (diag == NULL)
        return;
    for (size_t i = 0; i < diag->entry_count; i++)
        free(diag->entries[i].text);
    free(diag->entries);
    diag->entries = NULL;
    diag->entry_count = 0;
}

void config_diag_add(struct config_diag *diag, int line, int column, const char *path,
                     const char *fmt, ...)
{
    diag->count++;
    if (diag->entry_count >= DIAG_KEEP_MAX)
        return;
    struct strbuf text;
    strbuf_init(&text);
    strbuf_append(&text, diag->name);
    if (line > 0)
        strbuf_appendf(&text, ":%d:%d", line, column);
    strbuf_append(&text, ": ");
    if (path != NULL && path[0] != '\0')
        strbuf_appendf(&text, "%s: ", path);
    va_list ap;
    va_start(ap, fmt);
    strbuf_vappendf(&text, fmt, ap);
    va_end(ap);

    if (diag->entry_count == diag->entry_capacity) {
        size_t capacity = diag->entry_capacity ? diag->entry_capacity * 2 : 8;
        struct config_diag_entry *grown = realloc(diag->entries, capacity * sizeof *grown);
        if (grown == NULL)
            abort();
        diag->entries = grown;
        diag->entry_capacity = capacity;
    }
    struct config_diag_entry *entry = &diag->entries[diag->entry_count];
    entry->line = line;
    entry->column = column;
    entry->order = diag->entry_count;
    entry->text = strbuf_detach(&text);
    diag->entry_count++;
}

/* File order: by position, then in the order found; errors without a position
 * (a file that cannot be read) come first. */
static int compare_entries(const void *a, const void *b)
{
    const struct config_diag_entry *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->column != y->column)
        return x->column < y->column ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

void config_diag_copy(struct config_diag *diag, char *errstr, size_t errstr_size)
{
    if (errstr == NULL || errstr_size == 0)
        return;
    qsort(diag->entries, diag->entry_count, sizeof *diag->entries, compare_entries);
    struct strbuf out;
    strbuf_init(&out);
    size_t shown = diag->entry_count < (size_t)diag->limit ? diag->entry_count
                                                           : (size_t)diag->limit;
    for (size_t i = 0; i < shown; i++) {
        if (i > 0)
            strbuf_append_char(&out, '\n');
        strbuf_append(&out, diag->entries[i].text);
    }
    if ((size_t)diag->count > shown)
        strbuf_appendf(&out, "\n%s: %zu more errors not shown", diag->name,
                       (size_t)diag->count - shown);
    snprintf(errstr, errstr_size, "%s", strbuf_cstr(&out));
    strbuf_free(&out);
}

int config_edit_distance(const char *a, const char *b, int cap)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t diff = la > lb ? la - lb : lb - la;
    /* Keys are short; anything long or far apart in length cannot be a typo. */
    if (diff > (size_t)cap || la > 64 || lb > 64)
        return cap + 1;
    int row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diagonal = row[0];
        row[0] = (int)i;
        int row_min = row[0];
        for (size_t j = 1; j <= lb; j++) {
            int above = row[j];
            int best = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
            if (above + 1 < best)
                best = above + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diagonal = above;
            if (best < row_min)
                row_min = best;
        }
        if (row_min > cap)
            return cap + 1;
    }
    return row[lb] > cap ? cap + 1 : row[lb];
}

const char *config_suggest(const char *word, const char *const *candidates)
{
    const char *best = NULL;
    int best_distance = 3;
    for (size_t i = 0; candidates[i] != NULL; i++) {
        int d = config_edit_distance(word, candidates[i], 2);
        if (d < best_distance) {
            best_distance = d;
            best = candidates[i];
        }
    }
    return best;
}
