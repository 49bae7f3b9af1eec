#include "publishers/audit.h"
#include "util/numtext.h"
#include "util/sha256.h"
#include "util/xalloc.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_hash_text(const char *text)
{
    if (!text || strlen(text) != AUDIT_HASH_HEX_LEN)
        return false;
    for (const char *p = text; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/* ---- canonical JSON ------------------------------------------------------------------ */

static void put_canonical_byte(struct strbuf *out, unsigned char c);

/* Whether any of the 8 bytes in word is a quote, a backslash or below 0x20: exact, no
 * false answers either way (the usual zero-byte test, per byte value wanted). */
static inline bool word_needs_care(uint64_t word)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t quote = word ^ (ones * '"'), backslash = word ^ (ones * '\\');
    uint64_t found = ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash) |
                     ((word - ones * 0x20) & ~word);
    return (found & highs) != 0;
}

/* Which bytes a canonical string escapes: the control bytes (NUL ends a C string), the
 * quote and the backslash. A table costs one load per byte where three comparisons
 * did, and a notification's tree has about forty strings, most of them short. */
#define ROW_OF(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
static const bool escaped_in_canonical[256] = {
    ROW_OF(true), ROW_OF(true),                           /* 0x00-0x1f */
    false, false, true, false, false, false, false, false, /* 0x20-0x27: '"' */
    false, false, false, false, false, false, false, false,
    ROW_OF(false), ROW_OF(false),                         /* 0x30-0x4f */
    false, false, false, false, false, false, false, false, /* 0x50-0x5f: '\\' */
    false, false, false, false, true, false, false, false,
    ROW_OF(false), ROW_OF(false), ROW_OF(false), ROW_OF(false), ROW_OF(false), /* 0x60- */
    ROW_OF(false), ROW_OF(false), ROW_OF(false), ROW_OF(false), ROW_OF(false), /* -0xff */
};
#undef ROW_OF

/* Copied in runs between the bytes that need an escape; most strings are one run. */
static void append_canonical_string(struct strbuf *out, const char *text)
{
    const unsigned char *p = (const unsigned char *)text, *run = p;
    strbuf_append_char(out, '"');
    for (;;) {
        while (!escaped_in_canonical[*p])
            p++;
        strbuf_append_len(out, run, (size_t)(p - run));
        if (*p == '\0')
            break;
        put_canonical_byte(out, *p);
        run = ++p;
    }
    strbuf_append_char(out, '"');
}

/* A member with the first eight bytes of its name, big-endian and zero-padded: two
 * prefixes compare as strcmp() compares those bytes (a name's end, NUL, sorts first),
 * so most comparisons are one integer comparison. A notification's campaign has about
 * forty members, and sorting them by strcmp() was a sixth of the seal layout. */
struct keyed_member {
    uint64_t prefix;
    const cJSON *member;
};

static uint64_t name_prefix(const char *name)
{
    uint64_t prefix = 0;
    int i = 0;
    for (; i < 8 && name[i]; i++)
        prefix = prefix << 8 | (unsigned char)name[i];
    return i == 0 ? 0 : prefix << (8 * (8 - i));
}

static int compare_keyed(const struct keyed_member *a, const struct keyed_member *b)
{
    if (a->prefix != b->prefix)
        return a->prefix < b->prefix ? -1 : 1;
    /* Equal prefixes: the names are equal if they end within them, else the rest decides. */
    if ((a->prefix & 0xFF) == 0)
        return 0;
    return strcmp(a->member->string + 8, b->member->string + 8);
}

static int compare_keyed_for_qsort(const void *a, const void *b)
{
    return compare_keyed(a, b);
}

static int canonical_value(const cJSON *item, const char *skip_key, int depth,
                           struct strbuf *out, char *errstr, size_t errstr_size);

/* Objects of up to this many members are put in order on the stack by binary
 * insertion: a notification's objects have a handful to a few tens of members (a
 * campaign forty), and qsort() cost a merge buffer and a call per comparison. */
#define CANON_SMALL_OBJECT 64

static void sort_members_by_name(struct keyed_member *members, size_t count)
{
    for (size_t i = 1; i < count; i++) {
        struct keyed_member member = members[i];
        size_t lo = 0, hi = i;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (compare_keyed(&members[mid], &member) <= 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        memmove(&members[lo + 1], &members[lo], (i - lo) * sizeof *members);
        members[lo] = member;
    }
}

static int canonical_object(const cJSON *item, const char *skip_key, int depth,
                            struct strbuf *out, char *errstr, size_t errstr_size)
{
    size_t count = 0;
    for (const cJSON *child = item->child; child; child = child->next)
        count++;
    struct keyed_member small[CANON_SMALL_OBJECT];
    struct keyed_member *members =
        count <= CANON_SMALL_OBJECT ? small : xcalloc(count, sizeof *members);
    size_t used = 0;
    for (const cJSON *child = item->child; child; child = child->next)
        if (!(skip_key && child->string && strcmp(child->string, skip_key) == 0))
            members[used++] = (struct keyed_member){name_prefix(child->string), child};
    if (members == small)
        sort_members_by_name(members, used);
    else
        qsort(members, used, sizeof *members, compare_keyed_for_qsort);
    int status = 0;
    strbuf_append_char(out, '{');
    for (size_t i = 0; i < used && status == 0; i++) {
        const cJSON *member = members[i].member;
        if (i > 0 && compare_keyed(&members[i - 1], &members[i]) == 0) {
            errstr_set(errstr, errstr_size, "duplicate key \"%s\"", member->string);
            status = -1;
            break;
        }
        if (i > 0)
            strbuf_append_char(out, ',');
        append_canonical_string(out, member->string);
        strbuf_append_char(out, ':');
        status = canonical_value(member, NULL, depth, out, errstr, errstr_size);
    }
    strbuf_append_char(out, '}');
    if (members != small)
        free(members);
    return status;
}

/* Integers up to 2^53 in plain decimal (-0 as 0), other numbers as "%.17g". */
static void append_number(struct strbuf *out, double value)
{
    char text[NUMTEXT_MAX];
    if (value == floor(value) && fabs(value) <= 9007199254740992.0)
        strbuf_append_len(out, text, numtext_int64(text, (int64_t)value));
    else
        strbuf_append_len(out, text, numtext_g17(text, value));
}

/* depth counts the objects and arrays around item, and the limit is the text
 * canonicalizer's, so that a tree spliced into a text (canon_tree_value) is refused
 * exactly where its text would be. The kind is read from the type's low byte, as
 * cJSON_IsObject() and the others do, without a call per node. */
static int canonical_value(const cJSON *item, const char *skip_key, int depth,
                           struct strbuf *out, char *errstr, size_t errstr_size)
{
    switch (item->type & 0xFF) {
    case cJSON_Object:
    case cJSON_Array:
        if (depth >= CJSON_NESTING_LIMIT) {
            errstr_set(errstr, errstr_size, "nested too deeply");
            return -1;
        }
        if ((item->type & 0xFF) == cJSON_Object)
            return canonical_object(item, skip_key, depth + 1, out, errstr, errstr_size);
        strbuf_append_char(out, '[');
        for (const cJSON *child = item->child; child; child = child->next) {
            if (child != item->child)
                strbuf_append_char(out, ',');
            if (canonical_value(child, NULL, depth + 1, out, errstr, errstr_size) != 0)
                return -1;
        }
        strbuf_append_char(out, ']');
        return 0;
    case cJSON_String:
        append_canonical_string(out, item->valuestring ? item->valuestring : "");
        return 0;
    case cJSON_Number:
        if (!isfinite(item->valuedouble)) {
            errstr_set(errstr, errstr_size, "number is not finite");
            return -1;
        }
        append_number(out, item->valuedouble);
        return 0;
    case cJSON_True:
        strbuf_append_len(out, "true", 4);
        return 0;
    case cJSON_False:
        strbuf_append_len(out, "false", 5);
        return 0;
    case cJSON_NULL:
        strbuf_append_len(out, "null", 4);
        return 0;
    default:
        errstr_set(errstr, errstr_size, "value of unknown JSON kind");
        return -1;
    }
}

int audit_canonical_json(const cJSON *item, const char *skip_key, struct strbuf *out,
                         char *errstr, size_t errstr_size)
{
    if (!item) {
        errstr_set(errstr, errstr_size, "no JSON value");
        return -1;
    }
    return canonical_value(item, skip_key, 0, out, errstr, errstr_size);
}

/* ---- canonical JSON from text ------------------------------------------------------ */

/* One member of an object being canonicalized: its decoded key (in the input when it
 * has no escapes, else in the key arena) and its `"key":value` chunk in the output. */
struct canon_member {
    const char *key;
    size_t key_len;
    size_t arena_off;
    bool in_arena;
    size_t chunk_off, chunk_len;
};

struct canon_state {
    const char *text, *end;
    struct strbuf *out;
    struct canon_member *members; /* a stack shared by every nesting level */
    size_t member_count, member_cap;
    /* One object's members while they are put in order. */
    const struct canon_member **order;
    struct canon_member *sorted;
    size_t sorted_cap;
    struct strbuf keys;    /* decoded keys that had escapes */
    struct strbuf scratch; /* one object's chunks while they are put in order */
    /* When set, the value of the top-level member tree_key is the tree_text_len bytes
     * right after its colon, already parsed into tree: written from the tree. */
    const char *tree_key;
    size_t tree_text_len;
    const cJSON *tree;
    /* When set, where the value of this top-level member starts in the output. */
    const char *locate_key;
    size_t located_off;
    bool located;
    int depth;
    char *errstr;
    size_t errstr_size;
};

static int canon_fail(struct canon_state *st, const char *at, const char *what)
{
    errstr_set(st->errstr, st->errstr_size, "%s at offset %td", what, at - st->text);
    return -1;
}

/* cJSON counts every byte up to the space as whitespace; so does this. */
static const char *canon_skip_space(const struct canon_state *st, const char *p)
{
    while (p < st->end && (unsigned char)*p <= ' ')
        p++;
    return p;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool read_hex4(const char *p, const char *end, unsigned *out)
{
    if (end - p < 4)
        return false;
    unsigned value = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(p[i]);
        if (d < 0)
            return false;
        value = value << 4 | (unsigned)d;
    }
    *out = value;
    return true;
}

static void put_utf8(struct strbuf *sb, unsigned cp)
{
    char bytes[4];
    size_t n;
    if (cp < 0x80) {
        bytes[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        bytes[0] = (char)(0xC0 | cp >> 6);
        bytes[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        bytes[0] = (char)(0xE0 | cp >> 12);
        bytes[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        bytes[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        bytes[0] = (char)(0xF0 | cp >> 18);
        bytes[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        bytes[2] = (char)(0x80 | (cp >> 6 & 0x3F));
        bytes[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    strbuf_append_len(sb, bytes, n);
}

/* Appends one decoded byte in its canonical form (see append_canonical_string). */
static void put_canonical_byte(struct strbuf *out, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    switch (c) {
    case '"': strbuf_append_len(out, "\\\"", 2); return;
    case '\\': strbuf_append_len(out, "\\\\", 2); return;
    case '\b': strbuf_append_len(out, "\\b", 2); return;
    case '\f': strbuf_append_len(out, "\\f", 2); return;
    case '\n': strbuf_append_len(out, "\\n", 2); return;
    case '\r': strbuf_append_len(out, "\\r", 2); return;
    case '\t': strbuf_append_len(out, "\\t", 2); return;
    default:
        if (c < 0x20) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
            strbuf_append_len(out, esc, sizeof esc);
        } else {
            strbuf_append_char(out, (char)c);
        }
    }
}

/* Decodes the escape at p (just after the backslash) into decoded; returns the
 * position after it, or NULL. The same escapes cJSON accepts. */
static const char *decode_escape(struct canon_state *st, const char *p, struct strbuf *decoded)
{
    if (p >= st->end)
        return NULL;
    switch (*p) {
    case '"': case '\\': case '/': strbuf_append_char(decoded, *p); return p + 1;
    case 'b': strbuf_append_char(decoded, '\b'); return p + 1;
    case 'f': strbuf_append_char(decoded, '\f'); return p + 1;
    case 'n': strbuf_append_char(decoded, '\n'); return p + 1;
    case 'r': strbuf_append_char(decoded, '\r'); return p + 1;
    case 't': strbuf_append_char(decoded, '\t'); return p + 1;
    case 'u': break;
    default: return NULL;
    }
    unsigned cp;
    if (!read_hex4(p + 1, st->end, &cp))
        return NULL;
    p += 5;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return NULL;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        unsigned low;
        if (st->end - p < 6 || p[0] != '\\' || p[1] != 'u' || !read_hex4(p + 2, st->end, &low) ||
            low < 0xDC00 || low > 0xDFFF)
            return NULL;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        p += 6;
    }
    if (cp == 0)
        return NULL; /* a tree of C strings would cut the text here */
    put_utf8(decoded, cp);
    return p;
}

/* Parses the string at p (at its opening quote) and appends its canonical form.
 * With member set, also records the decoded key. Returns the position after it. */
static const char *canon_string(struct canon_state *st, const char *p,
                                struct canon_member *member)
{
    const char *start = ++p;
    bool plain = true;
    /* Most strings (ids, URIs, names) hold none of the bytes that matter: skip them a
     * word at a time; the byte loop below finds the exact position. */
    while (st->end - p >= 8) {
        uint64_t word;
        memcpy(&word, p, sizeof word);
        if (word_needs_care(word))
            break;
        p += 8;
    }
    while (p < st->end && *p != '"') {
        if (*p == '\\') {
            plain = false;
            p++;
        } else if ((unsigned char)*p < 0x20) {
            plain = false;
        }
        p++;
    }
    if (p >= st->end) {
        canon_fail(st, start - 1, "unterminated string");
        return NULL;
    }
    const char *close = p;
    strbuf_append_char(st->out, '"');
    if (plain) {
        strbuf_append_len(st->out, start, (size_t)(close - start));
        if (member) {
            member->key = start;
            member->key_len = (size_t)(close - start);
            member->in_arena = false;
        }
    } else {
        size_t key_start = st->keys.len;
        struct strbuf *decoded = &st->keys;
        for (const char *q = start; q < close;) {
            if (*q != '\\') {
                strbuf_append_char(decoded, *q++);
                continue;
            }
            q = decode_escape(st, q + 1, decoded);
            if (!q || q > close) {
                canon_fail(st, start - 1, "bad escape in string");
                return NULL;
            }
        }
        for (size_t i = key_start; i < decoded->len; i++)
            put_canonical_byte(st->out, (unsigned char)decoded->data[i]);
        if (member) {
            member->arena_off = key_start;
            member->key_len = decoded->len - key_start;
            member->in_arena = true;
        } else {
            decoded->len = key_start;
            decoded->data[key_start] = '\0';
        }
    }
    strbuf_append_char(st->out, '"');
    return close + 1;
}

/* Numbers as cJSON reads them (strtod over the number characters), written as
 * canonical_value() writes a double. */
static const char *canon_number(struct canon_state *st, const char *p)
{
    char number[64];
    size_t n = 0;
    bool plain_integer = true;
    while (p + n < st->end && n + 1 < sizeof number && strchr("0123456789+-eE.", p[n]) &&
           p[n] != '\0') {
        if (!(p[n] >= '0' && p[n] <= '9') && !(n == 0 && p[n] == '-'))
            plain_integer = false;
        number[n] = p[n];
        n++;
    }
    number[n] = '\0';
    /* Fast path: an integer of at most 15 digits without leading zeros is its own
     * canonical form. */
    size_t digits = n - (number[0] == '-');
    if (plain_integer && digits > 0 && digits <= 15 && number[n - digits] != '0') {
        strbuf_append_len(st->out, number, n);
        return p + n;
    }
    char *parsed_end = NULL;
    double value = strtod(number, &parsed_end);
    if (parsed_end == number) {
        canon_fail(st, p, "invalid value");
        return NULL;
    }
    if (!isfinite(value)) {
        errstr_set(st->errstr, st->errstr_size, "number is not finite");
        return NULL;
    }
    append_number(st->out, value);
    return p + (parsed_end - number);
}

static const char *canon_value(struct canon_state *st, const char *p, const char *skip_key,
                               bool *skipped);

static int compare_canon_members(const struct canon_member *a, const struct canon_member *b)
{
    size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c = memcmp(a->key, b->key, n);
    if (c != 0)
        return c;
    return a->key_len < b->key_len ? -1 : a->key_len > b->key_len;
}

/* Binary insertion sort, out of place: objects have tens of members, and qsort cost a
 * merge buffer (allocated past 1 KiB) and an indirect call per comparison. Stable, so
 * duplicate keys end up next to each other as with any sort. */
static void sort_canon_members(struct canon_state *st, struct canon_member *level, size_t count)
{
    if (st->sorted_cap < count) {
        st->sorted_cap = count;
        st->order = xrealloc(st->order, count * sizeof *st->order);
        st->sorted = xrealloc(st->sorted, count * sizeof *st->sorted);
    }
    const struct canon_member **order = st->order;
    for (size_t i = 0; i < count; i++) {
        size_t lo = 0, hi = i;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (compare_canon_members(order[mid], &level[i]) <= 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        memmove(&order[lo + 1], &order[lo], (i - lo) * sizeof *order);
        order[lo] = &level[i];
    }
    for (size_t i = 0; i < count; i++)
        st->sorted[i] = *order[i];
    memcpy(level, st->sorted, count * sizeof *level);
}

static struct canon_member *push_member(struct canon_state *st)
{
    if (st->member_count == st->member_cap) {
        st->member_cap = st->member_cap ? st->member_cap * 2 : 32;
        st->members = xrealloc(st->members, st->member_cap * sizeof *st->members);
    }
    struct canon_member *m = &st->members[st->member_count++];
    memset(m, 0, sizeof *m);
    return m;
}

/* Puts the members of one object in key order and rejects duplicates. Each
 * `"key":value` chunk was written in input order; only when that order is not already
 * sorted are the chunks moved (through scratch). */
static int canon_order_members(struct canon_state *st, size_t first, size_t region_start)
{
    struct canon_member *level = st->members + first;
    size_t count = st->member_count - first;
    for (size_t i = 0; i < count; i++)
        if (level[i].in_arena)
            level[i].key = st->keys.data + level[i].arena_off;
    bool sorted = true;
    for (size_t i = 1; i < count && sorted; i++)
        sorted = compare_canon_members(&level[i - 1], &level[i]) < 0;
    if (!sorted)
        sort_canon_members(st, level, count);
    for (size_t i = 1; i < count; i++) {
        if (compare_canon_members(&level[i - 1], &level[i]) == 0) {
            errstr_set(st->errstr, st->errstr_size, "duplicate key \"%.*s\"",
                       (int)(level[i].key_len > 200 ? 200 : level[i].key_len), level[i].key);
            return -1;
        }
    }
    if (sorted)
        return 0;
    /* The chunks are in input order, separated by commas: rewrite them in key order. */
    strbuf_reset(&st->scratch);
    strbuf_append_len(&st->scratch, st->out->data + region_start, st->out->len - region_start);
    st->out->len = region_start;
    for (size_t i = 0; i < count; i++) {
        if (i > 0)
            strbuf_append_char(st->out, ',');
        strbuf_append_len(st->out, st->scratch.data + (level[i].chunk_off - region_start),
                          level[i].chunk_len);
    }
    return 0;
}

/* The members of the outermost object are in key order from region_start, joined by
 * commas: finds where locate_key's value starts. The key must need no escaping. */
static void locate_member(struct canon_state *st, size_t first, size_t region_start)
{
    size_t want_len = strlen(st->locate_key);
    size_t pos = region_start;
    for (size_t i = first; i < st->member_count; i++) {
        const struct canon_member *m = &st->members[i];
        if (i > first)
            pos++;
        if (m->key_len == want_len && memcmp(m->key, st->locate_key, want_len) == 0) {
            st->located_off = pos + want_len + 3; /* '"' key '"' ':' */
            st->located = true;
            return;
        }
        pos += m->chunk_len;
    }
}

/* The member's value from st->tree, its text (from p) stepped over. Only when the text
 * starts as the tree's value does (after white space, a '{' for an object, a '[' for an
 * array): a parse that skipped something else, a byte order mark, would make a text the
 * verifier cannot read, and the text's own canonicalization says why. */
static const char *canon_tree_value(struct canon_state *st, const char *p)
{
    const cJSON *tree = st->tree;
    const char *value = canon_skip_space(st, p);
    char opening = cJSON_IsObject(tree) ? '{' : cJSON_IsArray(tree) ? '[' : '\0';
    if (!opening || value >= st->end || *value != opening ||
        (size_t)(st->end - p) < st->tree_text_len)
        return canon_value(st, value, NULL, NULL);
    st->tree = NULL; /* one member only */
    if (canonical_value(tree, NULL, st->depth, st->out, st->errstr, st->errstr_size) != 0)
        return NULL;
    return p + st->tree_text_len;
}

static const char *canon_object(struct canon_state *st, const char *p, const char *skip_key,
                                bool *skipped)
{
    p = canon_skip_space(st, p + 1);
    strbuf_append_char(st->out, '{');
    size_t first = st->member_count;
    size_t region_start = st->out->len;
    size_t skip_len = skip_key ? strlen(skip_key) : 0;
    if (p < st->end && *p == '}')
        goto close;
    for (;;) {
        if (p >= st->end || *p != '"') {
            canon_fail(st, p, "expected a member name");
            return NULL;
        }
        size_t separator_off = st->out->len;
        if (st->member_count > first)
            strbuf_append_char(st->out, ',');
        size_t chunk_off = st->out->len;
        struct canon_member key = {0};
        p = canon_string(st, p, &key);
        if (!p)
            return NULL;
        const char *key_text = key.in_arena ? st->keys.data + key.arena_off : key.key;
        bool skip = skip_key && key.key_len == skip_len &&
                    memcmp(key_text, skip_key, skip_len) == 0;
        p = canon_skip_space(st, p);
        if (p >= st->end || *p != ':') {
            canon_fail(st, p, "expected ':'");
            return NULL;
        }
        strbuf_append_char(st->out, ':');
        if (st->tree && st->depth == 1 && key.key_len == strlen(st->tree_key) &&
            memcmp(key_text, st->tree_key, key.key_len) == 0)
            p = canon_tree_value(st, p + 1);
        else
            p = canon_value(st, canon_skip_space(st, p + 1), NULL, NULL);
        if (!p)
            return NULL;
        if (skip) {
            st->out->len = separator_off;
            st->out->data[separator_off] = '\0';
            if (skipped)
                *skipped = true;
        } else {
            struct canon_member *m = push_member(st);
            *m = key;
            m->chunk_off = chunk_off;
            m->chunk_len = st->out->len - chunk_off;
        }
        p = canon_skip_space(st, p);
        if (p < st->end && *p == ',') {
            p = canon_skip_space(st, p + 1);
            continue;
        }
        if (p < st->end && *p == '}')
            break;
        canon_fail(st, p, "expected ',' or '}'");
        return NULL;
    }
    if (canon_order_members(st, first, region_start) != 0)
        return NULL;
    if (st->locate_key && st->depth == 1)
        locate_member(st, first, region_start);
close:
    st->member_count = first;
    strbuf_append_char(st->out, '}');
    return p + 1;
}

static const char *canon_array(struct canon_state *st, const char *p)
{
    p = canon_skip_space(st, p + 1);
    strbuf_append_char(st->out, '[');
    if (p < st->end && *p == ']') {
        strbuf_append_char(st->out, ']');
        return p + 1;
    }
    for (;;) {
        p = canon_value(st, p, NULL, NULL);
        if (!p)
            return NULL;
        p = canon_skip_space(st, p);
        if (p < st->end && *p == ',') {
            strbuf_append_char(st->out, ',');
            p = canon_skip_space(st, p + 1);
            continue;
        }
        if (p < st->end && *p == ']')
            break;
        canon_fail(st, p, "expected ',' or ']'");
        return NULL;
    }
    strbuf_append_char(st->out, ']');
    return p + 1;
}

static const char *canon_literal(struct canon_state *st, const char *p, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(st->end - p) < n || memcmp(p, word, n) != 0) {
        canon_fail(st, p, "invalid value");
        return NULL;
    }
    strbuf_append_len(st->out, word, n);
    return p + n;
}

static const char *canon_value(struct canon_state *st, const char *p, const char *skip_key,
                               bool *skipped)
{
    if (p >= st->end) {
        canon_fail(st, p, "unexpected end of text");
        return NULL;
    }
    switch (*p) {
    case '{':
    case '[': {
        if (st->depth >= CJSON_NESTING_LIMIT) {
            canon_fail(st, p, "nested too deeply");
            return NULL;
        }
        st->depth++;
        const char *after = *p == '{' ? canon_object(st, p, skip_key, skipped)
                                      : canon_array(st, p);
        st->depth--;
        return after;
    }
    case '"': return canon_string(st, p, NULL);
    case 't': return canon_literal(st, p, "true");
    case 'f': return canon_literal(st, p, "false");
    case 'n': return canon_literal(st, p, "null");
    default:
        if (*p == '-' || (*p >= '0' && *p <= '9'))
            return canon_number(st, p);
        canon_fail(st, p, "invalid value");
        return NULL;
    }
}

static void canon_state_init(struct canon_state *st)
{
    memset(st, 0, sizeof *st);
    strbuf_init(&st->keys);
    strbuf_init(&st->scratch);
}

static void canon_state_free(struct canon_state *st)
{
    free(st->members);
    free(st->order);
    free(st->sorted);
    strbuf_free(&st->keys);
    strbuf_free(&st->scratch);
    memset(st, 0, sizeof *st);
}

static int canon_run(struct canon_state *st, const char *text, size_t len, const char *skip_key,
                     bool *skipped_out, struct strbuf *out, char *errstr, size_t errstr_size)
{
    bool skipped = false;
    st->text = text;
    st->end = text + len;
    st->out = out;
    st->member_count = 0;
    st->depth = 0;
    st->errstr = errstr;
    st->errstr_size = errstr_size;
    st->located = false;
    strbuf_reset(&st->keys);
    size_t out_start = out->len;
    const char *p = canon_value(st, canon_skip_space(st, text), skip_key, &skipped);
    if (skipped_out)
        *skipped_out = skipped;
    if (p && (p = canon_skip_space(st, p)) < st->end) {
        canon_fail(st, p, "trailing data after the JSON value");
        p = NULL;
    }
    if (!p) {
        out->len = out_start;
        if (out->data)
            out->data[out_start] = '\0';
        return -1;
    }
    return 0;
}

int audit_canonical_text(const char *text, size_t len, const char *skip_key, bool *skipped_out,
                         struct strbuf *out, char *errstr, size_t errstr_size)
{
    if (!text) {
        errstr_set(errstr, errstr_size, "no JSON text");
        return -1;
    }
    struct canon_state st;
    canon_state_init(&st);
    int status = canon_run(&st, text, len, skip_key, skipped_out, out, errstr, errstr_size);
    canon_state_free(&st);
    return status;
}

/* A SHA-256 digest as the chain writes it: 64 lowercase hex digits. */
static void digest_hex(const unsigned char digest[AUDIT_HASH_HEX_LEN / 2],
                       char out[AUDIT_HASH_HEX_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < AUDIT_HASH_HEX_LEN / 2; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 0xf];
    }
    out[AUDIT_HASH_HEX_LEN] = '\0';
}

int audit_compute_hash(const char *prev_hash, const cJSON *data,
                       char out[AUDIT_HASH_HEX_LEN + 1], char *errstr, size_t errstr_size)
{
    struct strbuf text;
    strbuf_init(&text);
    strbuf_append(&text, prev_hash ? prev_hash : "");
    strbuf_append_char(&text, '\n');
    if (audit_canonical_json(data, "hash", &text, errstr, errstr_size) != 0) {
        strbuf_free(&text);
        return -1;
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    int ok = EVP_Digest(text.data, text.len, digest, &digest_len, sha256_md(), NULL);
    strbuf_free(&text);
    if (!ok || digest_len * 2 != AUDIT_HASH_HEX_LEN) {
        errstr_set(errstr, errstr_size, "SHA-256 failed");
        return -1;
    }
    digest_hex(digest, out);
    return 0;
}

enum audit_link_result audit_check_link(const cJSON *data, char *errstr, size_t errstr_size)
{
    if (!cJSON_IsObject(data)) {
        errstr_set(errstr, errstr_size, "audit data is not a JSON object");
        return AUDIT_LINK_MALFORMED;
    }
    const char *prev = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data, "prevHash"));
    const char *hash = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data, "hash"));
    if (!is_hash_text(prev) || !is_hash_text(hash)) {
        errstr_set(errstr, errstr_size, "prevHash and hash must be 64 lowercase hex digits");
        return AUDIT_LINK_MALFORMED;
    }
    char computed[AUDIT_HASH_HEX_LEN + 1];
    char why[256];
    if (audit_compute_hash(prev, data, computed, why, sizeof why) != 0) {
        errstr_set(errstr, errstr_size, "cannot hash the data: %s", why);
        return AUDIT_LINK_MALFORMED;
    }
    if (strcmp(computed, hash) != 0) {
        errstr_set(errstr, errstr_size, "hash mismatch: recorded %s, content hashes to %s",
                  hash, computed);
        return AUDIT_LINK_HASH_MISMATCH;
    }
    return AUDIT_LINK_OK;
}

/* ---- the chain --------------------------------------------------------------------- */

struct audit_seal_prep {
    /* The data text with `"prevHash":"<64>","hash":"<64>"}` as its last members. */
    struct strbuf sealed;
    size_t sealed_head_off, sealed_hash_off;
    /* canonical(data with prevHash): the head's 64 bytes at canonical_head_off. */
    struct strbuf canonical;
    size_t canonical_head_off;
};

static void seal_prep_init(struct audit_seal_prep *prep)
{
    strbuf_init(&prep->sealed);
    strbuf_init(&prep->canonical);
}

static void seal_prep_clear(struct audit_seal_prep *prep)
{
    strbuf_free(&prep->sealed);
    strbuf_free(&prep->canonical);
}

struct audit_chain {
    struct outbox *ob;
    char head[AUDIT_HASH_HEX_LEN + 1];
    uint64_t rollbacks_seen;
    /* Reused by every seal of an event without a prepared layout: no allocation per
     * event once warm. */
    struct canon_state canon;
    struct audit_seal_prep layout;
    EVP_MD_CTX *digest;
};

static int load_head(struct audit_chain *chain, char *errstr, size_t errstr_size)
{
    char *stored = NULL;
    int status = outbox_meta_get(chain->ob, AUDIT_HEAD_META_KEY, &stored, errstr, errstr_size);
    if (status != OUTBOX_OK)
        return status;
    if (stored && !is_hash_text(stored)) {
        errstr_set(errstr, errstr_size, "outbox %s: stored audit head \"%.80s\" is not a hash",
                  outbox_path(chain->ob), stored);
        free(stored);
        return OUTBOX_ERROR;
    }
    snprintf(chain->head, sizeof chain->head, "%s", stored ? stored : AUDIT_GENESIS_HASH);
    free(stored);
    chain->rollbacks_seen = outbox_rollback_count(chain->ob);
    return OUTBOX_OK;
}

/* A rolled-back transaction took the staged head with it: start from the stored one. */
static int reload_head_after_rollback(struct audit_chain *chain, char *errstr,
                                      size_t errstr_size)
{
    if (outbox_rollback_count(chain->ob) == chain->rollbacks_seen)
        return OUTBOX_OK;
    return load_head(chain, errstr, errstr_size);
}

struct audit_chain *audit_chain_create(struct outbox *ob, char *errstr, size_t errstr_size)
{
    if (!ob) {
        errstr_set(errstr, errstr_size, "audit chain: no outbox");
        return NULL;
    }
    struct audit_chain *chain = xcalloc(1, sizeof *chain);
    chain->ob = ob;
    canon_state_init(&chain->canon);
    seal_prep_init(&chain->layout);
    chain->digest = EVP_MD_CTX_new();
    if (!chain->digest)
        abort();
    if (load_head(chain, errstr, errstr_size) != OUTBOX_OK) {
        audit_chain_destroy(chain);
        return NULL;
    }
    return chain;
}

void audit_chain_destroy(struct audit_chain *chain)
{
    if (!chain)
        return;
    canon_state_free(&chain->canon);
    seal_prep_clear(&chain->layout);
    EVP_MD_CTX_free(chain->digest);
    free(chain);
}

const char *audit_chain_head(const struct audit_chain *chain) { return chain->head; }

int audit_chain_seal(struct audit_chain *chain, cJSON *data, char *errstr, size_t errstr_size)
{
    if (!cJSON_IsObject(data)) {
        errstr_set(errstr, errstr_size, "audit chain: data is not a JSON object");
        return OUTBOX_ERROR;
    }
    int status = reload_head_after_rollback(chain, errstr, errstr_size);
    if (status != OUTBOX_OK)
        return status;
    cJSON_DeleteItemFromObjectCaseSensitive(data, "hash");
    cJSON_DeleteItemFromObjectCaseSensitive(data, "prevHash");
    if (!cJSON_AddStringToObject(data, "prevHash", chain->head))
        abort();
    char hash[AUDIT_HASH_HEX_LEN + 1];
    if (audit_compute_hash(chain->head, data, hash, errstr, errstr_size) != 0)
        return OUTBOX_ERROR;
    status = outbox_meta_stage(chain->ob, AUDIT_HEAD_META_KEY, hash, errstr, errstr_size);
    if (status != OUTBOX_OK)
        return status;
    if (!cJSON_AddStringToObject(data, "hash", hash))
        abort();
    memcpy(chain->head, hash, sizeof hash);
    return OUTBOX_OK;
}

/* Appends an event already sealed after previous; when the append is refused, puts the
 * previous head back. */
static int append_sealed(struct audit_chain *chain, const struct relay_event *event,
                         const char previous[AUDIT_HASH_HEX_LEN + 1], int64_t *seq_out,
                         char *errstr, size_t errstr_size)
{
    int status = outbox_append(chain->ob, event, NULL, seq_out, errstr, errstr_size);
    if (status != OUTBOX_OK && outbox_rollback_count(chain->ob) == chain->rollbacks_seen) {
        /* The transaction survived (the append was refused): put the old head back in
         * it, so the stored head still names the last stored audit event. */
        char undo_err[256];
        if (outbox_meta_stage(chain->ob, AUDIT_HEAD_META_KEY, previous, undo_err,
                              sizeof undo_err) == OUTBOX_OK)
            memcpy(chain->head, previous, AUDIT_HASH_HEX_LEN + 1);
        else
            chain->rollbacks_seen = UINT64_MAX; /* reload from the database next time */
    }
    return status;
}

int audit_chain_append(struct audit_chain *chain, const char *id, const char *type,
                       const char *source, const char *subject, int64_t time_ms, cJSON *data,
                       int64_t *seq_out, char *errstr, size_t errstr_size)
{
    char previous[AUDIT_HASH_HEX_LEN + 1];
    memcpy(previous, chain->head, sizeof previous);
    int status = audit_chain_seal(chain, data, errstr, errstr_size);
    if (status != OUTBOX_OK)
        return status;
    char *text = cJSON_PrintUnformatted(data);
    if (!text)
        abort();
    struct relay_event *event = relay_event_create(id, type, source, subject, time_ms,
                                                   EVENT_FAMILY_AUDIT, text);
    free(text);
    if (!event) {
        errstr_set(errstr, errstr_size, "audit chain: event without id or type");
        status = OUTBOX_ERROR;
    } else {
        status = append_sealed(chain, event, previous, seq_out, errstr, errstr_size);
        relay_event_free(event);
    }
    return status;
}

/* ---- sealing, split: the layout off the chain, the hash on it ------------------------ */

/* Lays data (an object's text) out for sealing, with AUDIT_GENESIS_HASH standing in for
 * both hashes until the chain writes them. */
static int seal_layout(struct canon_state *canon, const char *data, struct audit_seal_prep *prep,
                       char *errstr, size_t errstr_size)
{
    size_t end = strlen(data);
    while (end > 0 && (unsigned char)data[end - 1] <= ' ')
        end--;
    size_t inner = end > 0 ? end - 1 : 0;
    while (inner > 0 && (unsigned char)data[inner - 1] <= ' ')
        inner--;
    if (end == 0 || data[end - 1] != '}' || inner == 0) {
        errstr_set(errstr, errstr_size, "audit chain: data is not a JSON object");
        return -1;
    }
    bool empty = data[inner - 1] == '{';
    struct strbuf *sealed = &prep->sealed;
    strbuf_reset(sealed);
    /* Both texts at their final size at once: growing them by doubling took six
     * reallocations each for a configuration notification. */
    strbuf_reserve(sealed, end + 2 * AUDIT_HASH_HEX_LEN + 32);
    strbuf_append_len(sealed, data, end - 1);
    strbuf_append(sealed, empty ? "\"prevHash\":\"" : ",\"prevHash\":\"");
    prep->sealed_head_off = sealed->len;
    strbuf_append_len(sealed, AUDIT_GENESIS_HASH, AUDIT_HASH_HEX_LEN);
    strbuf_append_len(sealed, "\"}", 2);

    strbuf_reset(&prep->canonical);
    strbuf_reserve(&prep->canonical, sealed->len + 16);
    bool had_hash = false;
    char why[256];
    canon->locate_key = "prevHash";
    int status = canon_run(canon, sealed->data, sealed->len, "hash", &had_hash,
                           &prep->canonical, why, sizeof why);
    canon->locate_key = NULL;
    if (status != 0) {
        errstr_set(errstr, errstr_size, "audit chain: data cannot be sealed: %s", why);
        return -1;
    }
    if (had_hash || prep->canonical.data[0] != '{') {
        errstr_set(errstr, errstr_size, "audit chain: data %s",
                  had_hash ? "already carries a hash" : "is not a JSON object");
        return -1;
    }
    /* The located value is the string written above: its quote, then the 64 digits. */
    prep->canonical_head_off = canon->located_off + 1;
    if (!canon->located ||
        prep->canonical_head_off + AUDIT_HASH_HEX_LEN >= prep->canonical.len ||
        memcmp(prep->canonical.data + prep->canonical_head_off, AUDIT_GENESIS_HASH,
               AUDIT_HASH_HEX_LEN) != 0) {
        errstr_set(errstr, errstr_size, "audit chain: data cannot be sealed: prevHash lost");
        return -1;
    }

    sealed->len--; /* the closing brace, written again after the hash */
    strbuf_append_len(sealed, ",\"hash\":\"", 9);
    prep->sealed_hash_off = sealed->len;
    strbuf_append_len(sealed, AUDIT_GENESIS_HASH, AUDIT_HASH_HEX_LEN);
    strbuf_append_len(sealed, "\"}", 2);
    return 0;
}

struct audit_seal_prep *audit_seal_prepare(const char *data, char *errstr, size_t errstr_size)
{
    return audit_seal_prepare_tree(data, NULL, 0, NULL, errstr, errstr_size);
}

struct audit_seal_prep *audit_seal_prepare_tree(const char *data, const char *key,
                                                size_t value_len, const cJSON *value,
                                                char *errstr, size_t errstr_size)
{
    if (!data) {
        errstr_set(errstr, errstr_size, "audit chain: no event data");
        return NULL;
    }
    struct audit_seal_prep *prep = xcalloc(1, sizeof *prep);
    seal_prep_init(prep);
    struct canon_state canon;
    canon_state_init(&canon);
    if (key && value) {
        canon.tree_key = key;
        canon.tree_text_len = value_len;
        canon.tree = value;
    }
    int status = seal_layout(&canon, data, prep, errstr, errstr_size);
    canon_state_free(&canon);
    if (status != 0) {
        audit_seal_prep_free(prep);
        return NULL;
    }
    return prep;
}

const char *audit_seal_prep_sealed(const struct audit_seal_prep *prep, size_t *len)
{
    *len = prep->sealed.len;
    return prep->sealed.data;
}

const char *audit_seal_prep_canonical(const struct audit_seal_prep *prep, size_t *len)
{
    *len = prep->canonical.len;
    return prep->canonical.data;
}

void audit_seal_prep_free(struct audit_seal_prep *prep)
{
    if (!prep)
        return;
    seal_prep_clear(prep);
    free(prep);
}

/* hash = SHA-256(head "\n" canonical), with the head written into the canonical form. */
static int seal_hash(struct audit_chain *chain, struct audit_seal_prep *prep,
                     char out[AUDIT_HASH_HEX_LEN + 1], char *errstr, size_t errstr_size)
{
    memcpy(prep->canonical.data + prep->canonical_head_off, chain->head, AUDIT_HASH_HEX_LEN);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    if (!EVP_DigestInit_ex2(chain->digest, sha256_md(), NULL) ||
        !EVP_DigestUpdate(chain->digest, chain->head, AUDIT_HASH_HEX_LEN) ||
        !EVP_DigestUpdate(chain->digest, "\n", 1) ||
        !EVP_DigestUpdate(chain->digest, prep->canonical.data, prep->canonical.len) ||
        !EVP_DigestFinal_ex(chain->digest, digest, &digest_len) ||
        digest_len * 2 != AUDIT_HASH_HEX_LEN) {
        errstr_set(errstr, errstr_size, "SHA-256 failed");
        return -1;
    }
    digest_hex(digest, out);
    return 0;
}

int audit_chain_append_event(struct audit_chain *chain, const struct relay_event *event,
                             int64_t *seq_out, char *errstr, size_t errstr_size)
{
    if (!event || !event->data) {
        errstr_set(errstr, errstr_size, "audit chain: no event data");
        return OUTBOX_ERROR;
    }
    int status = reload_head_after_rollback(chain, errstr, errstr_size);
    if (status != OUTBOX_OK)
        return status;
    struct audit_seal_prep *prep = event->seal;
    /* A layout whose sealed text went to an earlier append of this event is spent. */
    if (!prep || !prep->sealed.data) {
        prep = &chain->layout;
        if (seal_layout(&chain->canon, event->data, prep, errstr, errstr_size) != 0)
            return OUTBOX_ERROR;
    }
    char hash[AUDIT_HASH_HEX_LEN + 1];
    if (seal_hash(chain, prep, hash, errstr, errstr_size) != 0)
        return OUTBOX_ERROR;
    status = outbox_meta_stage(chain->ob, AUDIT_HEAD_META_KEY, hash, errstr, errstr_size);
    if (status != OUTBOX_OK)
        return status;
    memcpy(prep->sealed.data + prep->sealed_head_off, chain->head, AUDIT_HASH_HEX_LEN);
    memcpy(prep->sealed.data + prep->sealed_hash_off, hash, AUDIT_HASH_HEX_LEN);
    char previous[AUDIT_HASH_HEX_LEN + 1];
    memcpy(previous, chain->head, sizeof previous);
    memcpy(chain->head, hash, sizeof hash);

    if (prep != event->seal) {
        struct relay_event sealed = *event;
        sealed.data = prep->sealed.data;
        sealed.data_len = prep->sealed.len;
        sealed.seal = NULL;
        atomic_init(&sealed.refs, 0); /* a view: its data is the chain's buffer */
        return append_sealed(chain, &sealed, previous, seq_out, errstr, errstr_size);
    }
    /* The event's own layout gives its sealed text to the stored event, which the
     * outbox then keeps by reference: a view would be copied, data and all. */
    size_t sealed_len = prep->sealed.len;
    struct relay_event *sealed =
        relay_event_with_data(event, strbuf_detach(&prep->sealed), sealed_len);
    if (!sealed) {
        errstr_set(errstr, errstr_size, "audit chain: event without id or type");
        return OUTBOX_ERROR;
    }
    status = append_sealed(chain, sealed, previous, seq_out, errstr, errstr_size);
    relay_event_free(sealed);
    return status;
}

static bool is_audit_type(const char *type)
{
    static const char *const names[] = {"audit.notification", "audit.action"};
    if (!type)
        return false;
    size_t len = strlen(type);
    for (size_t i = 0; i < 2; i++) {
        size_t n = strlen(names[i]);
        if (len >= n && strcmp(type + len - n, names[i]) == 0 &&
            (len == n || type[len - n - 1] == '.'))
            return true;
    }
    return false;
}

/* Finds the audit data object of one line. Returns 1 with *data (owned by *root or
 * *inner) for an audit event, 0 for a line to skip, -1 with errstr for a bad line. */
static int line_audit_data(const char *line, cJSON **root, cJSON **inner, const cJSON **data,
                           char *errstr, size_t errstr_size)
{
    *root = cJSON_Parse(line);
    *inner = NULL;
    if (!cJSON_IsObject(*root)) {
        errstr_set(errstr, errstr_size, "unparsable line (not a JSON object)");
        return -1;
    }
    const cJSON *obj = *root;
    if (cJSON_GetObjectItemCaseSensitive(obj, "specversion")) {
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "type"));
        if (!is_audit_type(type))
            return 0;
        *data = cJSON_GetObjectItemCaseSensitive(obj, "data");
        if (!cJSON_IsObject(*data)) {
            errstr_set(errstr, errstr_size, "audit event without a data object");
            return -1;
        }
        return 1;
    }
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(obj, "value");
    if (cJSON_GetObjectItemCaseSensitive(obj, "topic") && value) {
        const cJSON *headers = cJSON_GetObjectItemCaseSensitive(obj, "headers");
        const char *type =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(headers, "ce_type"));
        if (type && !is_audit_type(type))
            return 0;
        if (!cJSON_IsString(value)) {
            errstr_set(errstr, errstr_size, "Kafka record value is not a string");
            return -1;
        }
        *inner = cJSON_Parse(value->valuestring);
        if (!cJSON_IsObject(*inner)) {
            errstr_set(errstr, errstr_size, "Kafka record value is not a JSON object");
            return -1;
        }
        obj = *inner;
        if (!type && !cJSON_GetObjectItemCaseSensitive(obj, "hash") &&
            !cJSON_GetObjectItemCaseSensitive(obj, "prevHash"))
            return 0;
        *data = obj;
        return 1;
    }
    if (!cJSON_GetObjectItemCaseSensitive(obj, "hash") &&
        !cJSON_GetObjectItemCaseSensitive(obj, "prevHash"))
        return 0;
    *data = obj;
    return 1;
}

/* Hashes already verified, for recognizing repeated lines. */
struct hash_set {
    char (*slots)[AUDIT_HASH_HEX_LEN + 1];
    size_t cap, count;
};

static size_t hash_slot(const struct hash_set *set, const char *hash)
{
    size_t h = 0;
    for (int i = 0; i < 16; i++)
        h = h * 16 + (size_t)(hash[i] <= '9' ? hash[i] - '0' : hash[i] - 'a' + 10);
    size_t i = h & (set->cap - 1);
    while (set->slots[i][0] && strcmp(set->slots[i], hash) != 0)
        i = (i + 1) & (set->cap - 1);
    return i;
}

static bool hash_set_contains(const struct hash_set *set, const char *hash)
{
    return set->cap && set->slots[hash_slot(set, hash)][0];
}

static void hash_set_add(struct hash_set *set, const char *hash)
{
    if ((set->count + 1) * 2 > set->cap) {
        struct hash_set bigger = {.cap = set->cap ? set->cap * 2 : 1024};
        bigger.slots = calloc(bigger.cap, sizeof *bigger.slots);
        if (!bigger.slots)
            abort();
        for (size_t i = 0; i < set->cap; i++)
            if (set->slots[i][0])
                memcpy(bigger.slots[hash_slot(&bigger, set->slots[i])], set->slots[i],
                       sizeof set->slots[i]);
        bigger.count = set->count;
        free(set->slots);
        *set = bigger;
    }
    size_t i = hash_slot(set, hash);
    if (!set->slots[i][0]) {
        memcpy(set->slots[i], hash, AUDIT_HASH_HEX_LEN + 1);
        set->count++;
    }
}

int audit_verify_stream(FILE *in, const char *name, bool require_genesis,
                        struct audit_verify_result *result, char *errstr, size_t errstr_size)
{
    memset(result, 0, sizeof *result);
    snprintf(result->head, sizeof result->head, "%s", AUDIT_GENESIS_HASH);
    struct hash_set seen = {0};
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t len;
    int status = 0;
    char why[512];
    while (status == 0 && (len = getline(&line, &line_cap, in)) >= 0) {
        result->lines++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        cJSON *root = NULL, *inner = NULL;
        const cJSON *data = NULL;
        int kind = line_audit_data(line, &root, &inner, &data, why, sizeof why);
        if (kind == 1) {
            enum audit_link_result link = audit_check_link(data, why, sizeof why);
            const char *prev =
                cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data, "prevHash"));
            const char *hash =
                cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data, "hash"));
            if (link != AUDIT_LINK_OK) {
                kind = -1;
            } else if (hash_set_contains(&seen, hash)) {
                result->duplicates++;
            } else if (result->events == 0 && !require_genesis) {
                snprintf(result->first_prev, sizeof result->first_prev, "%s", prev);
            } else if (strcmp(prev, result->head) != 0) {
                snprintf(why, sizeof why,
                         "prevHash %s does not match the previous audit event's hash %s%s",
                         prev, result->head,
                         result->events == 0 ? " (the chain must start at genesis)" : "");
                kind = -1;
            }
            if (kind == 1 && !hash_set_contains(&seen, hash)) {
                if (result->events == 0)
                    snprintf(result->first_prev, sizeof result->first_prev, "%s", prev);
                hash_set_add(&seen, hash);
                snprintf(result->head, sizeof result->head, "%s", hash);
                result->events++;
            }
        }
        if (kind == -1) {
            errstr_set(errstr, errstr_size, "%s:%lld: broken link: %s", name,
                      (long long)result->lines, why);
            status = 1;
        }
        cJSON_Delete(root);
        cJSON_Delete(inner);
    }
    if (status == 0 && ferror(in)) {
        errstr_set(errstr, errstr_size, "%s: read error", name);
        status = -1;
    }
    free(line);
    free(seen.slots);
    return status;
}
