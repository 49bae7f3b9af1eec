/*
 * cJSON's parser, again, for the frames of the notification stream.
 *
 * cJSON_ParseWithLengthOpts() was two thirds of decoding a frame: it calls strtod() (and
 * localeconv()) for every number, strncmp() for every literal and the allocation hooks
 * through a pointer for every node and string. json_parse() reads the same grammar into
 * the same tree with none of that on the common path: numbers of up to 15 digits without
 * an exponent are converted exactly (one correctly rounded division, which is what
 * strtod() returns for them), and nodes and strings are bumped from a caller's block.
 *
 * Contract:
 * - The result is what cJSON 1.7.15 (as Debian 12 ships it, with the security fixes)
 *   returns for cJSON_ParseWithLengthOpts(text, len, end, 0): the same acceptance, the
 *   same tree (types, names, strings, numbers, valueint's saturation, the prev links
 *   with the first child's prev at the last), and the same *end on success and on
 *   failure. That includes cJSON's leniencies: a leading BOM when len > 4, any byte up
 *   to 0x20 as white space, "-.5" and "01" as numbers, raw control bytes in strings, an
 *   invalid \u escape read as U+0000 (cutting the C string there), nesting up to
 *   CJSON_NESTING_LIMIT. tests/unit/test_json_parse.c and tests/fuzz/fuzz_json_parse.c
 *   compare the two.
 * - space may be NULL: then every node and string comes from malloc(). Otherwise they
 *   are taken from [space->next, space->limit), advancing next, and from malloc() once
 *   that is used up (counted in space->overflows). json_parse_delete() frees the tree,
 *   and so does cJSON_Delete() given hooks that skip pointers into the block.
 * - A failed parse returns NULL having freed what it took from the heap; what it took
 *   from the block stays taken (the caller resets next).
 * - The parse keeps no state: any number of threads may parse into their own spaces.
 */
#ifndef CRELAY_UTIL_JSON_PARSE_H
#define CRELAY_UTIL_JSON_PARSE_H

#include <stddef.h>
#include <stdint.h>

struct cJSON;

struct json_parse_space {
    char *block;  /* pointers in [block, limit) are never passed to free() */
    char *next;   /* the first free byte, aligned for a cJSON node */
    char *limit;
    uint64_t overflows; /* allocations that found the block full and went to malloc() */
    /* \u escapes that read as U+0000 (\u0000, or cJSON's reading of a bad hex digit):
     * each cuts its string short, so the tree holds less than the text. */
    uint64_t cut_strings;
};

struct cJSON *json_parse(struct json_parse_space *space, const char *text, size_t len,
                         const char **end);
/* Frees a tree json_parse() built from space (NULL for the heap): what lies outside the
 * block. A tree with items added since must have them from malloc(). */
void json_parse_delete(const struct json_parse_space *space, struct cJSON *tree);

#endif
