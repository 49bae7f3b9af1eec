/* Tests of publishers/audit: the canonical form, sealing with the head kept in the
 * outbox, undo on a refused append, and verification of files (good chains, repeats,
 * tampering, deleted and swapped lines, Kafka dumps, bare data). */
#include "publishers/audit.h"

#include <sys/wait.h>
#include <unistd.h>

#include "tests/harness.h"
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
