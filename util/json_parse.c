#include "util/json_parse.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <locale.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/*
 * Each function below mirrors the cJSON 1.7.15 function of the same role, step by step
 * where a step decides acceptance or the offset a failure reports, so that the two
 * agree byte for byte; the comments mark where a step is cJSON's on purpose.
 */

/* Every allocation keeps the next one aligned for a node (pointers and a double). */
#define SPACE_ALIGN 8

struct reader {
    const unsigned char *content;
    size_t length;
    size_t offset;
    size_t depth;
    struct json_parse_space *space;
};

static void *take(struct reader *r, size_t size)
{
    struct json_parse_space *space = r->space;
    if (space) {
        size_t need = (size + SPACE_ALIGN - 1) & ~(size_t)(SPACE_ALIGN - 1);
        if (need >= size && need <= (size_t)(space->limit - space->next)) {
            void *p = space->next;
            space->next += need;
            return p;
        }
        space->overflows++;
    }
    return malloc(size);
}

/* Memory from the block is given back with the block; the rest came from malloc(). */
static void give_back(const struct json_parse_space *space, void *p)
{
    if (space && (char *)p >= space->block && (char *)p < space->limit)
        return;
    free(p);
}

/* cJSON_Delete() of a tree json_parse() built, freeing through give_back(). */
static void delete_tree(const struct json_parse_space *space, cJSON *item)
{
    while (item) {
        cJSON *next = item->next;
        if (item->child)
            delete_tree(space, item->child);
        if (item->valuestring)
            give_back(space, item->valuestring);
        if (item->string)
            give_back(space, item->string);
        give_back(space, item);
        item = next;
    }
}

void json_parse_delete(const struct json_parse_space *space, cJSON *tree)
{
    delete_tree(space, tree);
}

static cJSON *new_item(struct reader *r)
{
    cJSON *item = take(r, sizeof *item);
    if (item)
        memset(item, 0, sizeof *item);
    return item;
}

static bool can_access(const struct reader *r, size_t index)
{
    return r->offset + index < r->length;
}

static const unsigned char *at(const struct reader *r)
{
    return r->content + r->offset;
}

/* cJSON's: anything up to 0x20 is white space, and reaching the end steps back onto the
 * last byte. */
static void skip_whitespace(struct reader *r)
{
    if (!can_access(r, 0))
        return;
    while (can_access(r, 0) && at(r)[0] <= 32)
        r->offset++;
    if (r->offset == r->length)
        r->offset--;
}

static bool parse_value(cJSON *item, struct reader *r);

/* ------------------------------------------------------------------------ */
/* Numbers */

static bool is_number_byte(unsigned char c)
{
    return (c >= '0' && c <= '9') || c == '+' || c == '-' || c == 'e' || c == 'E' || c == '.';
}

static void set_number(cJSON *item, double number)
{
    item->valuedouble = number;
    /* cJSON's saturation */
    if (number >= INT_MAX)
        item->valueint = INT_MAX;
    else if (number <= (double)INT_MIN)
        item->valueint = INT_MIN;
    else
        item->valueint = (int)number;
    item->type = cJSON_Number;
}

/* cJSON's way: the run of number bytes, with '.' as the locale's decimal point, through
 * strtod(), the offset advancing by what strtod() took. */
static bool parse_number_strtod(cJSON *item, struct reader *r)
{
    size_t run = 0;
    bool has_point = false;
    while (can_access(r, run) && is_number_byte(at(r)[run])) {
        has_point |= at(r)[run] == '.';
        run++;
    }
    char small[128];
    char *copy = run < sizeof small ? small : malloc(run + 1);
    if (!copy)
        return false;
    memcpy(copy, at(r), run);
    copy[run] = '\0';
    if (has_point) {
        char point = localeconv()->decimal_point[0];
        for (size_t i = 0; i < run; i++)
            if (copy[i] == '.')
                copy[i] = point;
    }
    char *after = NULL;
    double number = strtod(copy, &after);
    size_t used = (size_t)(after - copy);
    if (copy != small)
        free(copy);
    if (used == 0)
        return false;
    set_number(item, number);
    r->offset += used;
    return true;
}

static const double exact_powers_of_ten[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                             1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

/* Up to 15 digits, with or without a fraction: the digits as an integer are exact in a
 * double, and so is the power of ten, so one division rounds the true value once, as
 * strtod() does. Anything else (exponents, more digits, a '.' without digits after it,
 * a run strtod() would read differently) goes to strtod(). */
static bool parse_number(cJSON *item, struct reader *r)
{
    const unsigned char *p = at(r);
    size_t left = r->length - r->offset, i = 0;
    bool negative = p[0] == '-';
    if (negative)
        i = 1;
    uint64_t digits = 0;
    int count = 0, fraction = 0;
    while (i < left && p[i] >= '0' && p[i] <= '9' && count < 16) {
        digits = digits * 10 + (uint64_t)(p[i] - '0');
        count++;
        i++;
    }
    if (count > 0 && i < left && p[i] == '.') {
        i++;
        while (i < left && p[i] >= '0' && p[i] <= '9' && count < 16) {
            digits = digits * 10 + (uint64_t)(p[i] - '0');
            count++;
            fraction++;
            i++;
        }
        if (fraction == 0)
            return parse_number_strtod(item, r);
    }
    if (count == 0 || count > 15 || (i < left && is_number_byte(p[i])))
        return parse_number_strtod(item, r);
    double number = (double)digits;
    if (fraction)
        number /= exact_powers_of_ten[fraction];
    set_number(item, negative ? -number : number);
    r->offset += i;
    return true;
}

/* ------------------------------------------------------------------------ */
/* Strings */

/* cJSON's: an invalid hex digit makes the whole code 0. */
static unsigned parse_hex4(const unsigned char *input)
{
    unsigned code = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = input[i];
        unsigned nibble;
        if (c >= '0' && c <= '9')
            nibble = (unsigned)(c - '0');
        else if (c >= 'A' && c <= 'F')
            nibble = 10u + (unsigned)(c - 'A');
        else if (c >= 'a' && c <= 'f')
            nibble = 10u + (unsigned)(c - 'a');
        else
            return 0;
        code = (code << 4) | nibble;
    }
    return code;
}

/* Writes the UTF-8 of the \u escape (or surrogate pair) at in; returns the escape's
 * length, 0 when cJSON refuses it. */
static unsigned utf16_escape_to_utf8(const unsigned char *in, const unsigned char *end,
                                     unsigned char **out)
{
    if (end - in < 6)
        return 0;
    unsigned long codepoint;
    unsigned length;
    unsigned first = parse_hex4(in + 2);
    if (first >= 0xDC00 && first <= 0xDFFF)
        return 0;
    if (first >= 0xD800 && first <= 0xDBFF) {
        const unsigned char *second_escape = in + 6;
        if (end - second_escape < 6 || second_escape[0] != '\\' || second_escape[1] != 'u')
            return 0;
        unsigned second = parse_hex4(second_escape + 2);
        if (second < 0xDC00 || second > 0xDFFF)
            return 0;
        codepoint = 0x10000 + (((first & 0x3FFul) << 10) | (second & 0x3FF));
        length = 12;
    } else {
        codepoint = first;
        length = 6;
    }
    unsigned char *o = *out;
    if (codepoint < 0x80) {
        o[0] = (unsigned char)codepoint;
        *out = o + 1;
    } else if (codepoint < 0x800) {
        o[0] = (unsigned char)(0xC0 | (codepoint >> 6));
        o[1] = (unsigned char)(0x80 | (codepoint & 0x3F));
        *out = o + 2;
    } else if (codepoint < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (codepoint >> 12));
        o[1] = (unsigned char)(0x80 | ((codepoint >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (codepoint & 0x3F));
        *out = o + 3;
    } else {
        o[0] = (unsigned char)(0xF0 | (codepoint >> 18));
        o[1] = (unsigned char)(0x80 | ((codepoint >> 12) & 0x3F));
        o[2] = (unsigned char)(0x80 | ((codepoint >> 6) & 0x3F));
        o[3] = (unsigned char)(0x80 | (codepoint & 0x3F));
        *out = o + 4;
    }
    return length;
}

/* The offset of the first '"' or '\\' among the eight bytes at p, or 8 if none. A byte
 * equal to c leaves a zero byte in the word XOR c, and (v - 0x01..) & ~v sets the high
 * bit of the first zero byte (higher ones may be set falsely, the first never is). */
static inline size_t first_quote_or_backslash(const unsigned char *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t word;
    memcpy(&word, p, sizeof word);
    uint64_t quote = word ^ 0x2222222222222222ULL, backslash = word ^ 0x5C5C5C5C5C5C5C5CULL;
    uint64_t hits = (((quote - ones) & ~quote) | ((backslash - ones) & ~backslash)) & highs;
    return hits ? (size_t)__builtin_ctzll(hits) / 8 : 8;
#else
    for (size_t i = 0; i < 8; i++)
        if (p[i] == '"' || p[i] == '\\')
            return i;
    return 8;
#endif
}

static bool parse_string(cJSON *item, struct reader *r)
{
    const unsigned char *content = r->content;
    const unsigned char *input = at(r) + 1;
    const unsigned char *input_end = input;
    const unsigned char *limit = content + r->length;
    unsigned char *output = NULL;

    if (at(r)[0] != '"')
        goto fail;

    /* The closing quote, stepping over each escaped byte; eight bytes at a time while
     * they hold neither a quote nor a backslash (ids and names are tens of bytes). */
    size_t escapes = 0;
    while (input_end < limit) {
        if (limit - input_end >= 8) {
            size_t skip = first_quote_or_backslash(input_end);
            input_end += skip;
            if (skip == 8)
                continue;
        }
        if (*input_end == '"')
            break;
        if (*input_end == '\\') {
            if (input_end + 1 >= limit) /* cJSON's: a backslash as the last byte */
                goto fail;
            escapes++;
            input_end++;
        }
        input_end++;
    }
    if (input_end >= limit)
        goto fail;

    size_t raw = (size_t)(input_end - input);
    output = take(r, raw - escapes + 1);
    if (!output)
        goto fail;
    if (escapes == 0) {
        memcpy(output, input, raw);
        output[raw] = '\0';
    } else {
        unsigned char *out = output;
        while (input < input_end) {
            if (*input != '\\') {
                *out++ = *input++;
                continue;
            }
            unsigned length = 2;
            switch (input[1]) {
            case 'b': *out++ = '\b'; break;
            case 'f': *out++ = '\f'; break;
            case 'n': *out++ = '\n'; break;
            case 'r': *out++ = '\r'; break;
            case 't': *out++ = '\t'; break;
            case '"':
            case '\\':
            case '/': *out++ = input[1]; break;
            case 'u':
                length = utf16_escape_to_utf8(input, input_end, &out);
                if (length == 0)
                    goto fail;
                if (out[-1] == '\0' && r->space)
                    r->space->cut_strings++;
                break;
            default: goto fail;
            }
            input += length;
        }
        *out = '\0';
    }
    item->type = cJSON_String;
    item->valuestring = (char *)output;
    r->offset = (size_t)(input_end - content) + 1;
    return true;

fail:
    if (output)
        give_back(r->space, output);
    /* cJSON's: the offset a failure reports is where decoding stopped, one past the
     * opening quote if it never began. */
    r->offset = (size_t)(input - content);
    return false;
}

/* ------------------------------------------------------------------------ */
/* Arrays and objects */

static void append_child(cJSON **head, cJSON **last, cJSON *item)
{
    if (!*head) {
        *head = *last = item;
    } else {
        (*last)->next = item;
        item->prev = *last;
        *last = item;
    }
}

static bool finish_container(cJSON *item, struct reader *r, int type, cJSON *head, cJSON *last)
{
    r->depth--;
    if (head)
        head->prev = last;
    item->type = type;
    item->child = head;
    r->offset++;
    return true;
}

static bool parse_array(cJSON *item, struct reader *r)
{
    cJSON *head = NULL, *last = NULL;
    if (r->depth >= CJSON_NESTING_LIMIT)
        return false;
    r->depth++;
    if (at(r)[0] != '[')
        goto fail;
    r->offset++;
    skip_whitespace(r);
    if (can_access(r, 0) && at(r)[0] == ']')
        return finish_container(item, r, cJSON_Array, NULL, NULL);
    if (!can_access(r, 0)) {
        r->offset--;
        goto fail;
    }
    /* cJSON's: step back so that each element starts by stepping over a byte */
    r->offset--;
    do {
        cJSON *element = new_item(r);
        if (!element)
            goto fail;
        append_child(&head, &last, element);
        r->offset++;
        skip_whitespace(r);
        if (!parse_value(element, r))
            goto fail;
        skip_whitespace(r);
    } while (can_access(r, 0) && at(r)[0] == ',');
    if (!can_access(r, 0) || at(r)[0] != ']')
        goto fail;
    return finish_container(item, r, cJSON_Array, head, last);

fail:
    delete_tree(r->space, head);
    return false;
}

static bool parse_object(cJSON *item, struct reader *r)
{
    cJSON *head = NULL, *last = NULL;
    if (r->depth >= CJSON_NESTING_LIMIT)
        return false;
    r->depth++;
    if (!can_access(r, 0) || at(r)[0] != '{')
        goto fail;
    r->offset++;
    skip_whitespace(r);
    if (can_access(r, 0) && at(r)[0] == '}')
        return finish_container(item, r, cJSON_Object, NULL, NULL);
    if (!can_access(r, 0)) {
        r->offset--;
        goto fail;
    }
    r->offset--;
    do {
        cJSON *member = new_item(r);
        if (!member)
            goto fail;
        append_child(&head, &last, member);
        if (!can_access(r, 1)) /* nothing after the comma */
            goto fail;
        r->offset++;
        skip_whitespace(r);
        if (!parse_string(member, r))
            goto fail;
        skip_whitespace(r);
        member->string = member->valuestring;
        member->valuestring = NULL;
        if (!can_access(r, 0) || at(r)[0] != ':')
            goto fail;
        r->offset++;
        skip_whitespace(r);
        if (!parse_value(member, r))
            goto fail;
        skip_whitespace(r);
    } while (can_access(r, 0) && at(r)[0] == ',');
    if (!can_access(r, 0) || at(r)[0] != '}')
        goto fail;
    return finish_container(item, r, cJSON_Object, head, last);

fail:
    delete_tree(r->space, head);
    return false;
}

/* cJSON tries null, false, true, a string, a number, an array and an object in turn; the
 * first byte tells which one can match. */
static bool parse_value(cJSON *item, struct reader *r)
{
    if (!can_access(r, 0))
        return false;
    const unsigned char *p = at(r);
    size_t left = r->length - r->offset;
    switch (p[0]) {
    case 'n':
        if (left < 4 || memcmp(p, "null", 4) != 0)
            return false;
        item->type = cJSON_NULL;
        r->offset += 4;
        return true;
    case 'f':
        if (left < 5 || memcmp(p, "false", 5) != 0)
            return false;
        item->type = cJSON_False;
        r->offset += 5;
        return true;
    case 't':
        if (left < 4 || memcmp(p, "true", 4) != 0)
            return false;
        item->type = cJSON_True;
        item->valueint = 1;
        r->offset += 4;
        return true;
    case '"':
        return parse_string(item, r);
    case '-':
    case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        return parse_number(item, r);
    case '[':
        return parse_array(item, r);
    case '{':
        return parse_object(item, r);
    default:
        return false;
    }
}

cJSON *json_parse(struct json_parse_space *space, const char *text, size_t len,
                  const char **end)
{
    struct reader r = {.content = (const unsigned char *)text, .length = len, .space = space};
    cJSON *root = NULL;
    if (!text || len == 0)
        goto fail;
    root = new_item(&r);
    if (!root)
        goto fail;
    /* cJSON's: a BOM is skipped only when more than four bytes follow its start */
    if (can_access(&r, 4) && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        r.offset += 3;
    skip_whitespace(&r);
    if (!parse_value(root, &r))
        goto fail;
    if (end)
        *end = text + r.offset;
    return root;

fail:
    if (root)
        delete_tree(space, root);
    if (text && end)
        *end = text + (r.offset < r.length ? r.offset : r.length > 0 ? r.length - 1 : 0);
    return NULL;
}
