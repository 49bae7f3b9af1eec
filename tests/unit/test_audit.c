/* Tests of publishers/audit: the canonical form, sealing with the head kept in the
 * outbox, undo on a refused append, and verification of files (good chains, repeats,
 * tampering, deleted and swapped lines, Kafka dumps, bare data). */
#include "publishers/audit.h"

#include <sys/wait.h>
#include <unistd.h>

#include "tests/harness.h"
#include "tests/seal_check.h"
#include "util/json_parse.h"
#include "util/log.h"

static char tmpdir[256];

static char *canonical_of(const char *json)
{
    cJSON *item = cJSON_Parse(json);
    struct strbuf out;
    strbuf_init(&out);
    char err[256] = "";
    int status = audit_canonical_json(item, "hash", &out, err, sizeof err);
    cJSON_Delete(item);
    if (status != 0) {
        strbuf_free(&out);
        return strdup(err);
    }
    return strbuf_detach(&out);
}

static void test_canonical_form(void)
{
    char *text = canonical_of("{ \"b\": [1, 2.5, true, null], \"a\": {\"z\": 1, \"hash\": 2},"
                              " \"hash\": \"x\", \"s\": \"q\\\"\\u00e9\\n\\u0001\" }");
    /* Keys sorted, "hash" skipped only at the top, strings minimally escaped. */
    CHECK_EQ_STR(text, "{\"a\":{\"hash\":2,\"z\":1},\"b\":[1,2.5,true,null],"
                       "\"s\":\"q\\\"\xc3\xa9\\n\\u0001\"}");
    free(text);
    text = canonical_of("{\"n\": 1.0, \"m\": 1e3, \"f\": 0.1, \"neg\": -0}");
    CHECK_EQ_STR(text, "{\"f\":0.10000000000000001,\"m\":1000,\"n\":1,\"neg\":0}");
    free(text);
    text = canonical_of("{\"a\": 1, \"a\": 2}");
    CHECK_CONTAINS(text, "duplicate key \"a\"");
    free(text);
}

static struct outbox *open_outbox(const char *name, int64_t max_bytes);

/* The text canonicalizer must give the verifier's bytes: compare it with the
 * tree-based form on the project's fixtures and on edge cases. */
static char *canonical_text_of(const char *json, bool *skipped)
{
    struct strbuf out;
    strbuf_init(&out);
    char err[256] = "";
    if (audit_canonical_text(json, strlen(json), "hash", skipped, &out, err, sizeof err) != 0) {
        strbuf_free(&out);
        return strdup(err);
    }
    return strbuf_detach(&out);
}

static void check_same_canonical(const char *json, const char *name)
{
    char *tree = canonical_of(json);
    bool skipped = false;
    char *text = canonical_text_of(json, &skipped);
    if (strcmp(tree, text) != 0)
        printf("# %s\n#  tree: %.300s\n#  text: %.300s\n", name, tree, text);
    CHECK(strcmp(tree, text) == 0);
    free(tree);
    free(text);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct strbuf sb;
    strbuf_init(&sb);
    int status = strbuf_append_stream(&sb, f, 0);
    fclose(f);
    if (status != 0) {
        strbuf_free(&sb);
        return NULL;
    }
    return strbuf_detach(&sb);
}

static void test_canonical_text_matches_the_tree(void)
{
    static const char *const fixtures[] = {
        "tests/data/notifications/campaign_full.json",
        "tests/data/notifications/campaign_unknown_fields.json",
        "tests/data/notifications/progress.json",
        "tests/data/notifications/stats.json",
        "tests/data/notifications/rest_listing.json",
        "tests/data/notifications/importstatus.json",
        "tests/data/events/audit_notification.json",
        "tests/data/events/state_changed.json",
        "tests/data/events/alert_transition_stuck.json",
        "tests/data/events/dialer_stats.json",
    };
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        char *json = slurp(fixtures[i]);
        CHECK(json != NULL);
        if (json)
            check_same_canonical(json, fixtures[i]);
        free(json);
    }
    static const char *const cases[] = {
        "{}", "[]", " { } ", "{\"a\":[]}", "[1,[2,[3,{}]]]", "\"x\"", "0", "-0", "true",
        "{\"b\":1,\"a\":2,\"c\":{\"z\":[{\"y\":1,\"x\":2}],\"hash\":3},\"hash\":\"h\"}",
        "{\"n\":[0,1,-1,123456789012345,1234567890123456,9007199254740993,-9007199254740992,"
        "1.5,1e3,1E-3,-0.0,2.50,0.1,1e300,007]}",
        "{\"s\":\"q\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0001\\u001f\\u00e9\\u20ac\\ud83d\\ude00\"}",
        "{\"raw\":\"\xc3\xa9\xe2\x82\xac\x01\"}",
        "{\"\\u00e9\":1,\"e\":2,\"\\\"q\":3,\"a\\nb\":4}",
        "{\"ab\":1,\"a\":2,\"abc\":3,\"\":4}",
        " {\t\"a\" :\n 1 ,\r\"b\"\t: [ true , false , null ] } ",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_same_canonical(cases[i], cases[i]);

    /* Strings are skipped a word at a time up to the first byte that needs care: put
     * each kind of such byte at every offset of a word, in keys and in values. */
    static const char *const special[] = {"\\\"", "\\\\", "\\n", "\\u0001", "\xc3\xa9",
                                          "\\u00e9"};
    for (size_t k = 0; k < sizeof special / sizeof special[0]; k++) {
        for (int offset = 0; offset < 18; offset++) {
            char json[256];
            snprintf(json, sizeof json, "{\"%.*s%sk\":\"%.*s%sabcdefghijklmnop\",\"a\":1}",
                     offset, "0123456789abcdefghij", special[k], offset,
                     "ABCDEFGHIJKLMNOPQRST", special[k]);
            check_same_canonical(json, json);
        }
    }

    bool skipped = false;
    char *text = canonical_text_of("{\"hash\":1,\"a\":{\"hash\":2}}", &skipped);
    CHECK_EQ_STR(text, "{\"a\":{\"hash\":2}}");
    CHECK(skipped);
    free(text);
    text = canonical_text_of("{\"a\":{\"hash\":2}}", &skipped);
    CHECK(!skipped);
    free(text);
}

/* The tree's members are ordered by their first eight bytes, then by the rest: names
 * that end before, at and after the eighth byte, that share it, or differ past it,
 * bytes above 0x7f, in objects sorted on the stack and (past 64 members) by qsort. */
static void test_member_order_past_eight_bytes(void)
{
    static const char *const names[] = {
        "contactSorts", "contactSort", "contactS", "contact", "contactListFilters",
        "contactList", "abcdefgh", "abcdefg", "abcdefghi", "abcdefgi", "abcdefgh\xc3\xa9",
        "abcdefgh~", "\xc3\xa9", "\xe2\x82\xac", "z", "", "callAnalysisLanguage",
        "callAnalysisResponseSet", "callerName", "callerAddress", "dateCreated",
        "dateModified", "a\\u0001b", "a\\\"b",
    };
    size_t count = sizeof names / sizeof names[0];
    for (int large = 0; large < 2; large++) {
        struct strbuf json;
        strbuf_init(&json);
        strbuf_append(&json, "{");
        /* Reversed, so nothing is in order to begin with. */
        for (size_t i = count; i-- > 0;)
            strbuf_appendf(&json, "%s\"%s\":%zu", i + 1 < count ? "," : "", names[i], i);
        for (int i = 0; large && i < 70; i++)
            strbuf_appendf(&json, ",\"filler%02d-%s\":%d", 69 - i, i % 2 ? "x" : "", i);
        strbuf_append(&json, "}");
        check_same_canonical(json.data, large ? "large object" : "small object");
        strbuf_free(&json);
    }
    /* Equal past the eighth byte, or equal and shorter: duplicates either way. */
    static const char *const duplicates[] = {
        "{\"abcdefghij\":1,\"b\":0,\"abcdefghij\":2}",
        "{\"abcdefg\":1,\"abcdefg\":2}",
        "{\"abcdefgh\":1,\"b\":0,\"abcdefgh\":2}",
    };
    for (size_t i = 0; i < sizeof duplicates / sizeof duplicates[0]; i++) {
        char *text = canonical_of(duplicates[i]);
        CHECK_CONTAINS(text, "duplicate key");
        free(text);
    }
    /* Equal first eight bytes, different rest: not duplicates. */
    char *text = canonical_of("{\"abcdefghj\":1,\"abcdefghi\":2,\"abcdefgh\":3}");
    CHECK_EQ_STR(text, "{\"abcdefgh\":3,\"abcdefghi\":2,\"abcdefghj\":1}");
    free(text);
}

static void test_canonical_text_rejects_bad_input(void)
{
    static const struct {
        const char *json;
        const char *message;
    } cases[] = {
        {"{\"a\":1,\"a\":2}", "duplicate key \"a\""},
        {"{\"b\":1,\"a\":2,\"b\":3}", "duplicate key \"b\""},
        {"{\"a\":1} x", "trailing data after the JSON value at offset 8"},
        {"{\"a\":1", "expected ',' or '}' at offset 6"},
        {"{\"a\" 1}", "expected ':' at offset 5"},
        {"{\"a\":\"x}", "unterminated string at offset 5"},
        {"{\"a\":\"\\q\"}", "bad escape in string"},
        {"{\"a\":\"\\u0000\"}", "bad escape in string"},
        {"{\"a\":\"\\ud800\"}", "bad escape in string"},
        {"{\"a\":\"\\ude00\\ud800\"}", "bad escape in string"},
        {"{\"a\":1e999}", "number is not finite"},
        {"{\"a\":tru}", "invalid value at offset 5"},
        {"{\"a\":-}", "invalid value at offset 5"},
        {"[1,2", "expected ',' or ']' at offset 4"},
        {"", "unexpected end of text at offset 0"},
        {"{1:2}", "expected a member name at offset 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *text = canonical_text_of(cases[i].json, NULL);
        CHECK_CONTAINS(text, cases[i].message);
        free(text);
    }
    /* Objects of many members in scrambled order (the order is put right by an
     * insertion sort): the same bytes as the tree's form, and a repeated key, wherever
     * it sorts, is refused. */
    struct strbuf many;
    strbuf_init(&many);
    for (int dup = -1; dup < 60; dup += 7) {
        strbuf_reset(&many);
        strbuf_append_char(&many, '{');
        for (int i = 0; i < 60; i++) {
            int key = (i * 37) % 60; /* 37 is prime to 60: every key once */
            strbuf_appendf(&many, "%s\"k%02d\":{\"z\":%d,\"a\":[%d]}", i ? "," : "", key, i, key);
        }
        if (dup >= 0)
            strbuf_appendf(&many, ",\"k%02d\":0", dup);
        strbuf_append_char(&many, '}');
        if (dup < 0) {
            check_same_canonical(many.data, "60 members");
        } else {
            char *refused = canonical_text_of(many.data, NULL);
            char want[32];
            snprintf(want, sizeof want, "duplicate key \"k%02d\"", dup);
            CHECK_CONTAINS(refused, want);
            free(refused);
        }
    }
    strbuf_free(&many);

    /* cJSON's nesting limit, and no deeper. */
    struct strbuf deep;
    strbuf_init(&deep);
    for (int i = 0; i < 1000; i++)
        strbuf_append_char(&deep, '[');
    for (int i = 0; i < 1000; i++)
        strbuf_append_char(&deep, ']');
    check_same_canonical(deep.data, "1000 levels");
    strbuf_reset(&deep);
    for (int i = 0; i < 1001; i++)
        strbuf_append_char(&deep, '[');
    for (int i = 0; i < 1001; i++)
        strbuf_append_char(&deep, ']');
    char *text = canonical_text_of(deep.data, NULL);
    CHECK_CONTAINS(text, "nested too deeply");
    free(text);
    strbuf_free(&deep);
}

static struct relay_event *action_event(int n, const char *extra)
{
    char data[256];
    snprintf(data, sizeof data, "{\"action\":\"campaign.stop\",\"n\":%d,\"campaignId\":\"c-1\"%s}",
             n, extra);
    char id[16];
    snprintf(id, sizeof id, "t-%d", n);
    return relay_event_create(id, "cx.outbound.audit.action", "s", "c-1", n, EVENT_FAMILY_AUDIT,
                              data);
}

/* Data the chain refuses to seal, and the reason it gives. */
static const struct {
    const char *data;
    const char *message;
} unsealable[] = {
    {"[1,2]", "data is not a JSON object"},
    {"{\"a\":1,\"hash\":\"x\"}", "already carries a hash"},
    {"{\"a\":1,\"prevHash\":\"x\"}", "duplicate key \"prevHash\""},
    {"{\"\\u0070revHash\":\"x\"}", "duplicate key \"prevHash\""},
    {"{\"a\":1,\"b\":}", "data cannot be sealed: invalid value"},
    {"{\"a\":1}}", "data cannot be sealed: trailing data"},
};

/* Reads back every committed event's data, in order. */
static int read_back(struct outbox *ob, struct outbox_record *records, int max)
{
    char err[512];
    struct outbox_reader *reader = outbox_reader_create(ob, "test", err, sizeof err);
    int count = 0;
    if (!reader || outbox_reader_fetch(reader, 0, max, records, &count, err, sizeof err) != 0)
        printf("# %s\n", err);
    outbox_reader_destroy(reader);
    return count;
}

static void test_seal_from_text(void)
{
    char err[512];
    struct outbox *ob = open_outbox("text.db", 0);
    REQUIRE(ob != NULL);
    struct audit_chain *chain = audit_chain_create(ob, err, sizeof err);
    REQUIRE(chain != NULL);
    char heads[4][AUDIT_HASH_HEX_LEN + 1];
    snprintf(heads[0], sizeof heads[0], "%s", audit_chain_head(chain));
    for (int n = 0; n < 3; n++) {
        const char *nested = ",\"z\":{\"b\":[1.50],\"a\":\"\\u00e9\"}";
        struct relay_event *event = action_event(n, n == 1 ? nested : "");
        int64_t seq = 0;
        CHECK_EQ_INT(audit_chain_append_event(chain, event, &seq, err, sizeof err), OUTBOX_OK);
        CHECK_EQ_INT(seq, n + 1);
        relay_event_free(event);
        snprintf(heads[n + 1], sizeof heads[n + 1], "%s", audit_chain_head(chain));
        CHECK(strcmp(heads[n + 1], heads[n]) != 0);
    }
    /* Staged, the head is visible to the writer before the commit, and stored by it. */
    char *stored = NULL;
    outbox_meta_get(ob, AUDIT_HEAD_META_KEY, &stored, err, sizeof err);
    CHECK_EQ_STR(stored, heads[3]);
    free(stored);
    CHECK_EQ_INT(outbox_flush(ob, err, sizeof err), OUTBOX_OK);

    struct outbox_record records[8];
    int count = read_back(ob, records, 8);
    CHECK_EQ_INT(count, 3);
    for (int i = 0; i < count; i++) {
        /* The sealed text is what the verifier checks: prevHash links, hash matches. */
        cJSON *data = cJSON_Parse(records[i].event->data);
        CHECK_EQ_INT(audit_check_link(data, err, sizeof err), AUDIT_LINK_OK);
        CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(data, "prevHash")), heads[i]);
        CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(data, "hash")), heads[i + 1]);
        cJSON_Delete(data);
    }
    CHECK_CONTAINS(count > 0 ? records[0].event->data : "",
                   "{\"action\":\"campaign.stop\",\"n\":0,\"campaignId\":\"c-1\",\"prevHash\":\"");
    outbox_records_free(records, count);
    audit_chain_destroy(chain);
    outbox_destroy(ob);

    ob = open_outbox("text.db", 0);
    REQUIRE(ob != NULL);
    chain = audit_chain_create(ob, err, sizeof err);
    REQUIRE(chain != NULL);
    CHECK_EQ_STR(audit_chain_head(chain), heads[3]);

    /* Data the chain cannot seal is refused with the reason, the head unchanged. */
    for (size_t i = 0; i < sizeof unsealable / sizeof unsealable[0]; i++) {
        struct relay_event *event = relay_event_create("b", "cx.outbound.audit.action", "s", "",
                                                       1, EVENT_FAMILY_AUDIT,
                                                       unsealable[i].data);
        err[0] = '\0';
        CHECK_EQ_INT(audit_chain_append_event(chain, event, NULL, err, sizeof err),
                     OUTBOX_ERROR);
        CHECK_CONTAINS(err, unsealable[i].message);
        relay_event_free(event);
    }
    CHECK_EQ_STR(audit_chain_head(chain), heads[3]);
    struct relay_event *empty = relay_event_create("e", "cx.outbound.audit.action", "s", "", 1,
                                                   EVENT_FAMILY_AUDIT, " { } ");
    CHECK_EQ_INT(audit_chain_append_event(chain, empty, NULL, err, sizeof err), OUTBOX_OK);
    relay_event_free(empty);
    audit_chain_destroy(chain);
    outbox_destroy(ob);
}

static void test_seal_from_text_refused_append(void)
{
    char err[512];
    struct outbox *ob = open_outbox("textfull.db", 64 * 1024);
    REQUIRE(ob != NULL);
    struct audit_chain *chain = audit_chain_create(ob, err, sizeof err);
    REQUIRE(chain != NULL);
    int status = OUTBOX_OK, n = 0;
    char head_before[AUDIT_HASH_HEX_LEN + 1] = "";
    while (status == OUTBOX_OK && n < 100000) {
        snprintf(head_before, sizeof head_before, "%s", audit_chain_head(chain));
        struct relay_event *event = action_event(n++, ",\"pad\":\"................................"
                                                      "....................................\"");
        status = audit_chain_append_event(chain, event, NULL, err, sizeof err);
        relay_event_free(event);
    }
    CHECK_EQ_INT(status, OUTBOX_FULL);
    CHECK_EQ_STR(audit_chain_head(chain), head_before);
    CHECK_EQ_INT(outbox_flush(ob, err, sizeof err), OUTBOX_OK);
    audit_chain_destroy(chain);
    outbox_destroy(ob);
    /* What was committed names the last stored event. */
    ob = open_outbox("textfull.db", 64 * 1024);
    REQUIRE(ob != NULL);
    chain = audit_chain_create(ob, err, sizeof err);
    REQUIRE(chain != NULL);
    CHECK_EQ_STR(audit_chain_head(chain), head_before);
    audit_chain_destroy(chain);
    outbox_destroy(ob);
}

/* The layout prepared off the chain (as the decode thread does) seals to the same bytes
 * as sealing from the text on the chain: prevHash sorting first, last and between
 * keys, nested "prevHash" members that must not be taken for the top-level one,
 * unsorted input, escapes, an empty object. */
static void test_prepared_seal_gives_the_same_bytes(void)
{
    static const char *const datas[] = {
        "{\"a\":1}",
        "{\"zz\":1,\"b\":[true,null],\"a\":\"x\"}",
        "{\"prevHasg\":1,\"prevHasi\":2}",
        "{\"prevHasi\":2,\"prevHasg\":1,\"prevHas\":0,\"prevHashh\":3}",
        "{\"notification\":{\"prevHash\":\"" AUDIT_GENESIS_HASH "\"},\"a\":1}",
        "{\"b\":{\"prevHash\":\"" AUDIT_GENESIS_HASH "\",\"q\":{\"prevHash\":1}},\"c\":2}",
        "{\"\\u0062\":\"\\u00e9\\n\",\"a\":[{\"y\":1,\"x\":2}],\"n\":1.50}",
        " { } ",
        "{\"topic\":\"v2.outbound.campaigns.c-1\",\"correlationId\":\"k\","
        "\"receivedAt\":\"2026-11-22T00:00:00.000Z\",\"notification\":{\"topicName\":"
        "\"v2.outbound.campaigns.c-1\",\"eventBody\":{\"id\":\"c-1\",\"prevHash\":\"x\"}}}",
    };
    const size_t count = sizeof datas / sizeof datas[0];
    char err[512];
    struct outbox *plain_ob = open_outbox("plain.db", 0);
    struct outbox *prep_ob = open_outbox("prepared.db", 0);
    REQUIRE(plain_ob != NULL && prep_ob != NULL);
    struct audit_chain *plain = audit_chain_create(plain_ob, err, sizeof err);
    struct audit_chain *prepared = audit_chain_create(prep_ob, err, sizeof err);
    REQUIRE(plain != NULL && prepared != NULL);
    for (size_t i = 0; i < count; i++) {
        struct relay_event *a = relay_event_create("i", "cx.outbound.audit.action", "s", "", 1,
                                                   EVENT_FAMILY_AUDIT, datas[i]);
        struct relay_event *b = relay_event_create("i", "cx.outbound.audit.action", "s", "", 1,
                                                   EVENT_FAMILY_AUDIT, datas[i]);
        b->seal = audit_seal_prepare(b->data, err, sizeof err);
        CHECK_MSG(b->seal != NULL, "%s: %s", datas[i], err);
        /* Twice each: the first append takes the prepared layout's sealed text, and
         * the second must seal the event again from its data. */
        for (int round = 0; round < 2; round++) {
            CHECK_EQ_INT(audit_chain_append_event(plain, a, NULL, err, sizeof err), OUTBOX_OK);
            CHECK_EQ_INT(audit_chain_append_event(prepared, b, NULL, err, sizeof err),
                         OUTBOX_OK);
            CHECK_EQ_STR(audit_chain_head(prepared), audit_chain_head(plain));
        }
        relay_event_free(a);
        relay_event_free(b);
    }
    CHECK_EQ_INT(outbox_flush(plain_ob, err, sizeof err), OUTBOX_OK);
    CHECK_EQ_INT(outbox_flush(prep_ob, err, sizeof err), OUTBOX_OK);
    struct outbox_record plain_records[32], prep_records[32];
    int plain_count = read_back(plain_ob, plain_records, 32);
    int prep_count = read_back(prep_ob, prep_records, 32);
    CHECK_EQ_INT(plain_count, 2 * (int)count);
    CHECK_EQ_INT(prep_count, 2 * (int)count);
    for (int i = 0; i < plain_count && i < prep_count; i++) {
        CHECK_EQ_STR(prep_records[i].event->data, plain_records[i].event->data);
        cJSON *data = cJSON_Parse(prep_records[i].event->data);
        CHECK_EQ_INT(audit_check_link(data, err, sizeof err), AUDIT_LINK_OK);
        cJSON_Delete(data);
    }
    outbox_records_free(plain_records, plain_count);
    outbox_records_free(prep_records, prep_count);

    /* What the chain refuses cannot be prepared either, for the same reason. */
    for (size_t i = 0; i < sizeof unsealable / sizeof unsealable[0]; i++) {
        err[0] = '\0';
        CHECK(audit_seal_prepare(unsealable[i].data, err, sizeof err) == NULL);
        CHECK_CONTAINS(err, unsealable[i].message);
    }
    audit_chain_destroy(plain);
    audit_chain_destroy(prepared);
    outbox_destroy(plain_ob);
    outbox_destroy(prep_ob);
}

/* Lays out an audit.notification's data around raw from raw's tree and from the text
 * (tests/seal_check.h); returns whether the tree's layout exists. */
static int tree_layout_agrees(const char *raw, int *text_sealed)
{
    struct strbuf data;
    strbuf_init(&data);
    strbuf_append(&data, "{\"topic\":\"v2.outbound.campaigns.c-1\",\"correlationId\":\"k\","
                         "\"receivedAt\":\"2026-11-23T00:00:00.000Z\",\"notification\":");
    strbuf_append(&data, raw);
    strbuf_append_char(&data, '}');
    cJSON *tree = json_parse(NULL, raw, strlen(raw), NULL);
    CHECK_MSG(tree != NULL, "%.60s does not parse", raw);
    bool tree_sealed = false, text = false;
    char why[1024] = "";
    if (tree)
        CHECK_MSG(seal_layouts_agree(data.data, strlen(raw), tree, &tree_sealed, &text, why,
                                     sizeof why),
                  "%.60s: %s", raw, why);
    *text_sealed = text;
    cJSON_Delete(tree);
    strbuf_free(&data);
    return tree_sealed;
}

/* The relay lays a notification's audit event out from the frame's tree: the same
 * bytes as from the text wherever the text can be sealed, and what the verifier reads
 * wherever the tree can. */
static void test_seal_from_the_tree_gives_the_same_bytes(void)
{
    static const char *const raws[] = {
        "{}",
        " {\"b\":1,\"a\":2} ",
        "{\"topicName\":\"v2.outbound.campaigns.c-1\",\"version\":\"2\",\"eventBody\":"
        "{\"id\":\"c-1\",\"name\":\"Spring \\u00e9 \\\"renewals\\\"\",\"prevHash\":\"x\","
        "\"hash\":\"y\",\"z\":[3,2,{\"y\":null,\"x\":false}],\"n\":-0,\"f\":1.50,"
        "\"e\":1e3,\"g\":0.1,\"tab\":\"a\\tb\\u0001\\/\"},\"metadata\":{\"CorrelationId\":\"k\"}}",
        "{\"\\u0062\":1,\"a\":2,\"\\ud83d\\ude00\":\"\\ud83d\\ude00\"}",
        "{\"notification\":{\"prevHash\":\"" AUDIT_GENESIS_HASH "\"}}",
    };
    int text_sealed = 0;
    for (size_t i = 0; i < sizeof raws / sizeof raws[0]; i++) {
        CHECK_MSG(tree_layout_agrees(raws[i], &text_sealed), "%s: not sealed", raws[i]);
        CHECK_MSG(text_sealed, "%s: the text is not sealed", raws[i]);
    }

    /* Refused by both, each for its reason. */
    static const char *const refused[] = {
        "{\"a\":1,\"a\":2}",     /* a duplicate key */
        "{\"a\":[1e400]}",        /* not finite */
        "\xEF\xBB\xBF{\"a\":1}", /* a BOM: the verifier could not read the sealed text */
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        CHECK_MSG(!tree_layout_agrees(refused[i], &text_sealed), "%s: sealed", refused[i]);
        CHECK_MSG(!text_sealed, "%s: the text is sealed", refused[i]);
    }

    /* A number longer than the text canonicalizer's 63 characters: only the tree, read
     * as the verifier's cJSON reads it, seals it. */
    char long_number[128];
    snprintf(long_number, sizeof long_number, "{\"n\":1%070d}", 0);
    CHECK(tree_layout_agrees(long_number, &text_sealed));
    CHECK(!text_sealed);

    /* An object of more members than are sorted on the stack, in reverse order. */
    struct strbuf wide;
    strbuf_init(&wide);
    for (int i = 80; i > 0; i--)
        strbuf_appendf(&wide, "%s\"m%02d\":%d", i == 80 ? "{" : ",", i, i);
    strbuf_append_char(&wide, '}');
    CHECK(tree_layout_agrees(wide.data, &text_sealed));
    CHECK(text_sealed);
    strbuf_free(&wide);

    /* Nesting: refused from the tree exactly where the text is refused. */
    for (int depth = 998; depth <= 1000; depth++) {
        struct strbuf deep;
        strbuf_init(&deep);
        for (int i = 1; i < depth; i++)
            strbuf_append(&deep, i % 2 ? "{\"k\":" : "[");
        strbuf_append(&deep, "{}");
        for (int i = depth - 1; i >= 1; i--)
            strbuf_append_char(&deep, i % 2 ? '}' : ']');
        int from_tree = tree_layout_agrees(deep.data, &text_sealed);
        CHECK_MSG(from_tree == text_sealed, "nesting %d: tree %d, text %d", depth, from_tree,
                  text_sealed);
        CHECK_MSG(from_tree == (depth < 1000), "nesting %d: tree %d", depth, from_tree);
        strbuf_free(&deep);
    }
}

static struct outbox *open_outbox(const char *name, int64_t max_bytes)
{
    char path[400], err[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    struct outbox_options opts = {.path = path, .max_bytes = max_bytes,
                                  .maintain_interval_ms = -1};
    struct outbox *ob = outbox_create(&opts, err, sizeof err);
    if (!ob)
        printf("# %s\n", err);
    return ob;
}

static cJSON *action_data(int n)
{
    cJSON *data = cJSON_CreateObject();
    cJSON_AddStringToObject(data, "action", "campaign.stop");
    cJSON_AddNumberToObject(data, "n", n);
    cJSON_AddStringToObject(data, "campaignId", "c-1");
    return data;
}

static void test_seal_chains_and_head_survives_restart(void)
{
    char err[512];
    struct outbox *ob = open_outbox("chain.db", 0);
    REQUIRE(ob != NULL);
    struct audit_chain *chain = audit_chain_create(ob, err, sizeof err);
    REQUIRE(chain != NULL);
    CHECK_EQ_STR(audit_chain_head(chain), AUDIT_GENESIS_HASH);
    char prev[AUDIT_HASH_HEX_LEN + 1];
    for (int n = 0; n < 3; n++) {
        snprintf(prev, sizeof prev, "%s", audit_chain_head(chain));
        cJSON *data = action_data(n);
        char id[16];
        snprintf(id, sizeof id, "a-%d", n);
        CHECK_EQ_INT(audit_chain_append(chain, id, "cx.outbound.audit.action", "s", "c-1", n,
                                        data, NULL, err, sizeof err),
                     OUTBOX_OK);
        CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(data, "prevHash")), prev);
        CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(data, "hash")),
                     audit_chain_head(chain));
        CHECK_EQ_INT(audit_check_link(data, err, sizeof err), AUDIT_LINK_OK);
        cJSON_Delete(data);
    }
    char head[AUDIT_HASH_HEX_LEN + 1];
    snprintf(head, sizeof head, "%s", audit_chain_head(chain));
    CHECK(strcmp(head, AUDIT_GENESIS_HASH) != 0);
    audit_chain_destroy(chain);
    outbox_destroy(ob); /* commits */

    ob = open_outbox("chain.db", 0);
    REQUIRE(ob != NULL);
    chain = audit_chain_create(ob, err, sizeof err);
    REQUIRE(chain != NULL);
    CHECK_EQ_STR(audit_chain_head(chain), head);
    audit_chain_destroy(chain);
    outbox_destroy(ob);
}

static void test_refused_append_leaves_the_head_alone(void)
{
    char err[512];
    struct outbox *ob = open_outbox("full.db", 64 * 1024);
    REQUIRE(ob != NULL);
    struct audit_chain *chain = audit_chain_create(ob, err, sizeof err);
    REQUIRE(chain != NULL);
    int status = OUTBOX_OK, n = 0;
    char head_before[AUDIT_HASH_HEX_LEN + 1] = "";
    while (status == OUTBOX_OK && n < 100000) {
        snprintf(head_before, sizeof head_before, "%s", audit_chain_head(chain));
        cJSON *data = action_data(n++);
        cJSON_AddStringToObject(data, "pad", "................................................"
                                             "..............................................");
        status = audit_chain_append(chain, "id", "cx.outbound.audit.action", "s", "c", 1, data,
                                    NULL, err, sizeof err);
        cJSON_Delete(data);
    }
    CHECK_EQ_INT(status, OUTBOX_FULL);
    CHECK_EQ_STR(audit_chain_head(chain), head_before);
    char *stored = NULL;
    outbox_meta_get(ob, AUDIT_HEAD_META_KEY, &stored, err, sizeof err);
    CHECK_EQ_STR(stored, head_before);
    free(stored);
    audit_chain_destroy(chain);
    outbox_destroy(ob);
}

/* ---- verification ------------------------------------------------------------------ */

#define LINES 9

/* A file-sink-like stream: audit events interleaved with state events. */
static char *lines[LINES];

static void build_lines(void)
{
    char err[512];
    struct outbox *ob = open_outbox("verify.db", 0);
    struct audit_chain *chain = audit_chain_create(ob, err, sizeof err);
    for (int i = 0; i < LINES; i++) {
        struct strbuf sb;
        strbuf_init(&sb);
        struct relay_event *ev;
        if (i % 3 == 2) {
            ev = relay_event_create("st", "cx.outbound.campaign.progress", "s", "c", 1,
                                    EVENT_FAMILY_STATE, "{\"percentage\":50}");
        } else {
            cJSON *data = action_data(i);
            audit_chain_seal(chain, data, err, sizeof err);
            char *text = cJSON_PrintUnformatted(data);
            ev = relay_event_create("au", "cx.outbound.audit.notification", "s", "c", 1,
                                    EVENT_FAMILY_AUDIT, text);
            free(text);
            cJSON_Delete(data);
        }
        relay_event_to_structured_json(ev, &sb);
        relay_event_free(ev);
        lines[i] = strbuf_detach(&sb);
    }
    audit_chain_destroy(chain);
    outbox_destroy(ob);
}

/* Verifies the lines picked by order[] (-1 ends); returns the status and the message. */
static int verify(const int *order, char *msg, size_t msg_size, struct audit_verify_result *r)
{
    struct strbuf text;
    strbuf_init(&text);
    for (int i = 0; order[i] >= 0; i++) {
        strbuf_append(&text, lines[order[i]]);
        strbuf_append_char(&text, '\n');
    }
    FILE *in = fmemopen(text.data, text.len, "r");
    msg[0] = '\0';
    int status = audit_verify_stream(in, "events.jsonl", false, r, msg, msg_size);
    fclose(in);
    strbuf_free(&text);
    return status;
}

static void test_verify_good_chain_and_repeats(void)
{
    char msg[1024];
    struct audit_verify_result r;
    const int all[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, -1};
    CHECK_EQ_INT(verify(all, msg, sizeof msg, &r), 0);
    CHECK_EQ_INT(r.events, 6);
    CHECK_EQ_STR(r.first_prev, AUDIT_GENESIS_HASH);
    /* At-least-once: a rewind re-delivers lines 3..5, then continues. */
    const int repeated[] = {0, 1, 2, 3, 4, 5, 3, 4, 5, 6, 7, 8, -1};
    char head[AUDIT_HASH_HEX_LEN + 1];
    snprintf(head, sizeof head, "%s", r.head);
    CHECK_EQ_INT(verify(repeated, msg, sizeof msg, &r), 0);
    CHECK_EQ_INT(r.events, 6);
    CHECK_EQ_INT(r.duplicates, 2);
    CHECK_EQ_STR(r.head, head);
    /* A rotated file starting mid-chain verifies and says where it starts. */
    const int tail[] = {4, 5, 6, 7, 8, -1};
    CHECK_EQ_INT(verify(tail, msg, sizeof msg, &r), 0);
    CHECK(strcmp(r.first_prev, AUDIT_GENESIS_HASH) != 0);
}

static void test_verify_names_the_broken_line(void)
{
    char msg[1024];
    struct audit_verify_result r;
    const int deleted[] = {0, 1, 2, 4, 5, 6, -1}; /* audit line 3 removed */
    CHECK_EQ_INT(verify(deleted, msg, sizeof msg, &r), 1);
    CHECK_CONTAINS(msg, "events.jsonl:4: broken link: prevHash");
    const int swapped[] = {0, 1, 2, 4, 3, 5, -1};
    CHECK_EQ_INT(verify(swapped, msg, sizeof msg, &r), 1);
    CHECK_CONTAINS(msg, "events.jsonl:4: broken link");

    /* Tamper with a field of the sixth line (audit, index 7 is the 5th audit event). */
    char *saved = lines[7];
    char *tampered = strdup(saved);
    char *stop = strstr(tampered, "campaign.stop");
    REQUIRE(stop != NULL);
    memcpy(stop, "campaign.STOP", 13);
    lines[7] = tampered;
    const int all[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, -1};
    CHECK_EQ_INT(verify(all, msg, sizeof msg, &r), 1);
    CHECK_CONTAINS(msg, "events.jsonl:8: broken link: hash mismatch");
    lines[7] = saved;
    free(tampered);

    saved = lines[4];
    lines[4] = "{\"specversion\":\"1.0\", truncated";
    CHECK_EQ_INT(verify(all, msg, sizeof msg, &r), 1);
    CHECK_CONTAINS(msg, "events.jsonl:5: broken link: unparsable");
    lines[4] = saved;
}

static void test_verify_reads_kafka_dumps_and_bare_data(void)
{
    /* Re-serialize each audit data object the way another tool would: pretty-printed,
     * keys in another order, inside a Kafka dump line or bare. */
    struct strbuf kafka, bare;
    strbuf_init(&kafka);
    strbuf_init(&bare);
    for (int i = 0; i < LINES; i++) {
        cJSON *ev = cJSON_Parse(lines[i]);
        cJSON *data = cJSON_DetachItemFromObject(ev, "data");
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(ev, "type"));
        cJSON *reordered = cJSON_CreateObject();
        for (cJSON *child = data->child; child;) {
            cJSON *next = child->next;
            /* Detached members keep their names; inserting at the front reverses them. */
            cJSON_InsertItemInArray(reordered, 0, cJSON_DetachItemViaPointer(data, child));
            child = next;
        }
        char *value = cJSON_Print(reordered);
        cJSON *line = cJSON_CreateObject();
        cJSON_AddStringToObject(line, "topic", "relay.audit");
        cJSON_AddStringToObject(line, "key", "c");
        cJSON *headers = cJSON_AddObjectToObject(line, "headers");
        cJSON_AddStringToObject(headers, "ce_type", type);
        cJSON_AddStringToObject(line, "value", value);
        char *text = cJSON_PrintUnformatted(line);
        strbuf_append(&kafka, text);
        strbuf_append_char(&kafka, '\n');
        free(text);
        if (strstr(type, "audit.")) {
            char *flat = cJSON_PrintUnformatted(reordered);
            strbuf_append(&bare, flat);
            strbuf_append_char(&bare, '\n');
            free(flat);
        }
        free(value);
        cJSON_Delete(line);
        cJSON_Delete(reordered);
        cJSON_Delete(data);
        cJSON_Delete(ev);
    }
    char msg[1024] = "";
    struct audit_verify_result r;
    FILE *in = fmemopen(kafka.data, kafka.len, "r");
    CHECK_EQ_INT(audit_verify_stream(in, "dump.jsonl", true, &r, msg, sizeof msg), 0);
    fclose(in);
    CHECK_EQ_INT(r.events, 6);
    in = fmemopen(bare.data, bare.len, "r");
    CHECK_EQ_INT(audit_verify_stream(in, "bare.jsonl", true, &r, msg, sizeof msg), 0);
    fclose(in);
    CHECK_EQ_INT(r.events, 6);
    /* --from-genesis refuses a chain that starts later. */
    const char *second = strchr(bare.data, '\n') + 1;
    in = fmemopen((void *)second, strlen(second), "r");
    CHECK_EQ_INT(audit_verify_stream(in, "bare.jsonl", true, &r, msg, sizeof msg), 1);
    fclose(in);
    CHECK_CONTAINS(msg, "bare.jsonl:1: broken link");
    strbuf_free(&kafka);
    strbuf_free(&bare);
}


/* Runs the campaign-relay binary of the build tree; returns its exit status. */
static int run_cli(const char *args, char *out, size_t out_size)
{
    const char *build = getenv("BUILD") ? getenv("BUILD") : "build/asan";
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s/campaign-relay %s 2>&1", build, args);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t len = fread(out, 1, out_size - 1, p);
    out[len] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void write_file(const char *path, const int *order)
{
    FILE *f = fopen(path, "w");
    for (int i = 0; f && order[i] >= 0; i++)
        fprintf(f, "%s\n", lines[order[i]]);
    if (f)
        fclose(f);
}

static void test_cli_audit_verify(void)
{
    char path[400], args[600], out[4096];
    snprintf(path, sizeof path, "%s/events.jsonl", tmpdir);
    const int all[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, -1};
    write_file(path, all);
    struct audit_verify_result r;
    char msg[1024];
    verify(all, msg, sizeof msg, &r);
    snprintf(args, sizeof args, "audit verify %s", path);
    CHECK_EQ_INT(run_cli(args, out, sizeof out), 0);
    char expected[600];
    snprintf(expected, sizeof expected, "audit chain OK: 6 events, head %s", r.head);
    CHECK_CONTAINS(out, expected);

    const int deleted[] = {0, 1, 2, 3, 5, 6, 7, 8, -1};
    write_file(path, deleted);
    CHECK_EQ_INT(run_cli(args, out, sizeof out), 1);
    snprintf(expected, sizeof expected, "%s:6: broken link", path); /* line 5 is not audit */
    CHECK_CONTAINS(out, expected);

    CHECK_EQ_INT(run_cli("audit verify", out, sizeof out), 2);
    CHECK_CONTAINS(out, "usage: campaign-relay audit verify");
}

int main(void)
{
    log_set_level(LOG_ERROR);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_audit.XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    RUN(test_canonical_form);
    RUN(test_seal_chains_and_head_survives_restart);
    RUN(test_refused_append_leaves_the_head_alone);
    RUN(test_canonical_text_matches_the_tree);
    RUN(test_member_order_past_eight_bytes);
    RUN(test_canonical_text_rejects_bad_input);
    RUN(test_seal_from_text);
    RUN(test_prepared_seal_gives_the_same_bytes);
    RUN(test_seal_from_the_tree_gives_the_same_bytes);
    RUN(test_seal_from_text_refused_append);
    build_lines();
    RUN(test_verify_good_chain_and_repeats);
    RUN(test_verify_names_the_broken_line);
    RUN(test_verify_reads_kafka_dumps_and_bare_data);
    RUN(test_cli_audit_verify);
    for (int i = 0; i < LINES; i++)
        free(lines[i]);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", tmpdir);
    return harness_finish();
}
