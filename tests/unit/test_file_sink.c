/* Tests of publishers/file_sink: JSONL lines proven by fdatasync, rotation, ENOSPC
 * reported as SINK_FAILED naming the path, and delivery through a real sink runner and
 * outbox. */
#include "publishers/file_sink.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "publishers/outbox.h"
#include "publishers/sink_runner.h"
#include "tests/harness.h"
#include "util/log.h"
#include "util/timeutil.h"

static char tmpdir[256];

static struct relay_event *make_event(int n)
{
    char id[32], data[64];
    snprintf(id, sizeof id, "ev-%d", n);
    snprintf(data, sizeof data, "{\"n\":%d}", n);
    return relay_event_create(id, "cx.outbound.campaign.progress",
                              "genesys-cloud://example/outbound/campaigns/c1", "c1",
                              1700000000000 + n, EVENT_FAMILY_STATE, data);
}

/* Reads a file's lines; returns how many, parsing each into ns[] (the data's n). */
static int read_lines(const char *path, int *ns, int max, int *bad)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[4096];
    int count = 0;
    while (fgets(line, sizeof line, f)) {
        cJSON *ev = cJSON_Parse(line);
        cJSON *data = cJSON_GetObjectItem(ev, "data");
        cJSON *n = cJSON_GetObjectItem(data, "n");
        if (!ev || !cJSON_IsNumber(n) ||
            strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(ev, "specversion")), "1.0") != 0)
            (*bad)++;
        else if (count < max)
            ns[count] = (int)n->valuedouble;
        count++;
        cJSON_Delete(ev);
    }
    fclose(f);
    return count;
}

static void test_lines_are_done_only_after_poll(void)
{
    char path[300], err[512];
    snprintf(path, sizeof path, "%s/events.jsonl", tmpdir);
    struct file_sink_options opts = {.path = path};
    struct file_sink *sink = file_sink_create(&opts, err, sizeof err);
    REQUIRE(sink != NULL);
    for (int n = 1; n <= 3; n++) {
        struct relay_event *ev = make_event(n);
        CHECK_EQ_INT(file_sink_ops.submit(sink, n, ev, err, sizeof err), SINK_ACCEPTED);
        relay_event_free(ev);
    }
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size == 0); /* buffered, not yet proven */
    CHECK_EQ_INT(file_sink_ops.poll(sink, 0), 3);
    int ns[8], bad = 0;
    CHECK_EQ_INT(read_lines(path, ns, 8, &bad), 3);
    CHECK_EQ_INT(bad, 0);
    CHECK(ns[0] == 1 && ns[1] == 2 && ns[2] == 3);
    /* The line is exactly the structured CloudEvent. */
    struct relay_event *ev = make_event(1);
    struct strbuf expected;
    strbuf_init(&expected);
    relay_event_to_structured_json(ev, &expected);
    relay_event_free(ev);
    FILE *f = fopen(path, "r");
    char line[4096] = "";
    CHECK(f && fgets(line, sizeof line, f));
    if (f)
        fclose(f);
    line[strcspn(line, "\n")] = '\0';
    CHECK_EQ_STR(line, strbuf_cstr(&expected));
    CHECK_CONTAINS(line, "\"partitionkey\":\"c1\"");
    strbuf_free(&expected);
    struct file_sink_stats stats;
    file_sink_get_stats(sink, &stats);
    CHECK_EQ_INT(stats.lines, 3);
    CHECK_EQ_INT(stats.syncs, 1); /* one sync for the batch */
    CHECK(!file_sink_ops.needs_replay(sink));
    file_sink_ops.destroy(sink);
}

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fwrite(text, 1, len, f);
        fclose(f);
    }
}

/* Submits events first..last and proves them with one poll. */
static void deliver(struct file_sink *sink, int first, int last)
{
    char err[512];
    for (int n = first; n <= last; n++) {
        struct relay_event *ev = make_event(n);
        CHECK_EQ_INT(file_sink_ops.submit(sink, n, ev, err, sizeof err), SINK_ACCEPTED);
        relay_event_free(ev);
    }
    CHECK_EQ_INT(file_sink_ops.poll(sink, 0), last); /* the highest seq proven */
}

/* A relay killed during a write leaves part of a line at the end of the file (seen in
 * relay_delivery: a later line glued to the fragment broke every reader of the file). The
 * sink cuts it off when it opens the file; the runner writes those events again. */
static void test_unfinished_last_line_is_cut_off(void)
{
    char path[300], err[512];
    snprintf(path, sizeof path, "%s/torn.jsonl", tmpdir);
    struct strbuf text;
    strbuf_init(&text);
    for (int n = 1; n <= 3; n++) {
        struct relay_event *ev = make_event(n);
        relay_event_to_structured_json(ev, &text);
        relay_event_free(ev);
        if (n < 3)
            strbuf_append_char(&text, '\n');
    }
    size_t whole = text.len;
    write_file(path, strbuf_cstr(&text), whole - 25); /* the third line cut short */
    struct file_sink_options opts = {.path = path};
    struct file_sink *sink = file_sink_create(&opts, err, sizeof err);
    REQUIRE(sink != NULL);
    deliver(sink, 3, 4);
    file_sink_ops.destroy(sink);
    int ns[8], bad = 0;
    CHECK_EQ_INT(read_lines(path, ns, 8, &bad), 4);
    CHECK_EQ_INT(bad, 0);
    CHECK(ns[0] == 1 && ns[1] == 2 && ns[2] == 3 && ns[3] == 4);

    /* A fragment longer than one read from the end, with no complete line before it. */
    char *junk = malloc(20000);
    REQUIRE(junk != NULL);
    memset(junk, 'x', 20000);
    write_file(path, junk, 20000);
    free(junk);
    sink = file_sink_create(&opts, err, sizeof err);
    REQUIRE(sink != NULL);
    deliver(sink, 5, 5);
    file_sink_ops.destroy(sink);
    bad = 0;
    CHECK_EQ_INT(read_lines(path, ns, 8, &bad), 1);
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(ns[0], 5);

    /* A file that ends with a whole line keeps every byte. */
    write_file(path, strbuf_cstr(&text), whole);
    FILE *f = fopen(path, "a");
    if (f) {
        fputc('\n', f);
        fclose(f);
    }
    sink = file_sink_create(&opts, err, sizeof err);
    REQUIRE(sink != NULL);
    deliver(sink, 4, 4);
    file_sink_ops.destroy(sink);
    bad = 0;
    CHECK_EQ_INT(read_lines(path, ns, 8, &bad), 4);
    CHECK_EQ_INT(bad, 0);
    CHECK(ns[0] == 1 && ns[2] == 3 && ns[3] == 4);
    strbuf_free(&text);
}

static void test_rotation_keeps_max_files_in_order(void)
{
    char path[300], err[512], name[340];
    snprintf(path, sizeof path, "%s/rot.jsonl", tmpdir);
    struct file_sink_options opts = {.path = path, .max_bytes = 2000, .max_files = 2};
    struct file_sink *sink = file_sink_create(&opts, err, sizeof err);
    REQUIRE(sink != NULL);
    for (int n = 1; n <= 60; n++) {
        struct relay_event *ev = make_event(n);
        CHECK_EQ_INT(file_sink_ops.submit(sink, n, ev, err, sizeof err), SINK_ACCEPTED);
        relay_event_free(ev);
        if (n % 7 == 0)
            file_sink_ops.poll(sink, 0);
    }
    CHECK_EQ_INT(file_sink_ops.poll(sink, 0), 60);
    struct file_sink_stats stats;
    file_sink_get_stats(sink, &stats);
    CHECK(stats.rotations >= 3);
    file_sink_ops.destroy(sink);

    /* path.2 (oldest kept), path.1, path: contiguous, ending at 60, each <= 2000 B. */
    int ns[200], total = 0, bad = 0;
    const char *suffixes[] = {".2", ".1", ""};
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "%s%s", path, suffixes[i]);
        struct stat st;
        CHECK(stat(name, &st) == 0 && st.st_size <= 2000 && st.st_size > 0);
        int got = read_lines(name, ns + total, 200 - total, &bad);
        CHECK(got > 0);
        if (got > 0)
            total += got;
    }
    snprintf(name, sizeof name, "%s.3", path);
    CHECK(access(name, F_OK) != 0);
    CHECK_EQ_INT(bad, 0);
    CHECK(total > 0 && total < 60);
    int contiguous = 0;
    for (int i = 0; i < total; i++)
        contiguous += ns[i] == 60 - total + 1 + i;
    CHECK_EQ_INT(contiguous, total);
}

static void test_disk_full_fails_naming_the_path(void)
{
    char err[512] = "";
    struct file_sink_options opts = {.path = "/dev/full"};
    struct file_sink *sink = file_sink_create(&opts, err, sizeof err);
    REQUIRE(sink != NULL);
    struct relay_event *ev = make_event(1);
    CHECK_EQ_INT(file_sink_ops.submit(sink, 1, ev, err, sizeof err), SINK_ACCEPTED);
    CHECK_EQ_INT(file_sink_ops.poll(sink, 0), -1); /* nothing proven */
    CHECK(file_sink_ops.needs_replay(sink));
    CHECK(!file_sink_ops.needs_replay(sink)); /* once */
    err[0] = '\0';
    CHECK_EQ_INT(file_sink_ops.submit(sink, 1, ev, err, sizeof err), SINK_FAILED);
    CHECK_CONTAINS(err, "/dev/full");
    CHECK_CONTAINS(err, strerror(ENOSPC));
    /* After the runner's backoff the sink tries again (and fails again at the sync). */
    CHECK_EQ_INT(file_sink_ops.submit(sink, 1, ev, err, sizeof err), SINK_ACCEPTED);
    CHECK_EQ_INT(file_sink_ops.poll(sink, 0), -1);
    relay_event_free(ev);
    struct file_sink_stats stats;
    file_sink_get_stats(sink, &stats);
    CHECK_EQ_INT(stats.errors, 2);
    file_sink_ops.destroy(sink);
}

static void test_unopenable_path_is_reported(void)
{
    char path[300], err[512] = "";
    snprintf(path, sizeof path, "%s/no/such/dir/events.jsonl", tmpdir);
    struct file_sink_options opts = {.path = path};
    CHECK(file_sink_create(&opts, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, path);
    CHECK_CONTAINS(err, strerror(ENOENT));
}

static void test_runner_delivers_outbox_to_file_in_order(void)
{
    char path[300], db[300], err[512];
    snprintf(path, sizeof path, "%s/runner.jsonl", tmpdir);
    snprintf(db, sizeof db, "%s/runner.db", tmpdir);
    struct outbox_options oopts = {.path = db, .commit_interval_ms = 2};
    struct outbox *ob = outbox_create(&oopts, err, sizeof err);
    REQUIRE(ob != NULL);
    struct sink_runner_options ropts = {.name = "file"};
    struct sink_runner *runner = sink_runner_create(ob, &ropts, err, sizeof err);
    REQUIRE(runner != NULL);
    struct file_sink_options fopts = {.path = path, .max_bytes = 1 << 20};
    struct file_sink *sink = file_sink_create(&fopts, err, sizeof err);
    REQUIRE(sink != NULL);
    REQUIRE(sink_runner_start(runner, &file_sink_ops, sink, err, sizeof err) == 0);
    for (int n = 1; n <= 3000; n++) {
        struct relay_event *ev = make_event(n);
        outbox_append(ob, ev, NULL, NULL, err, sizeof err);
        relay_event_free(ev);
        if (n % 100 == 0)
            outbox_flush_due(ob, time_mono_ms(), err, sizeof err);
    }
    outbox_flush(ob, err, sizeof err);
    struct sink_runner_metrics m;
    int64_t end = time_mono_ms() + 20000;
    do {
        usleep(5000);
        outbox_flush_due(ob, time_mono_ms(), err, sizeof err);
        sink_runner_get_metrics(runner, &m);
    } while (m.cursor < 3000 && time_mono_ms() < end);
    sink_runner_stop(runner, 2000);
    sink_runner_get_metrics(runner, &m);
    CHECK_EQ_INT(m.cursor, 3000);
    CHECK_EQ_INT(m.delivered, 3000);
    sink_runner_destroy(runner);
    outbox_destroy(ob);

    static int ns[4000];
    int bad = 0;
    int count = read_lines(path, ns, 4000, &bad);
    CHECK_EQ_INT(count, 3000);
    CHECK_EQ_INT(bad, 0);
    int in_order = 0;
    for (int i = 0; i < count && i < 3000; i++)
        in_order += ns[i] == i + 1;
    CHECK_EQ_INT(in_order, 3000);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_file_sink.XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    RUN(test_lines_are_done_only_after_poll);
    RUN(test_unfinished_last_line_is_cut_off);
    RUN(test_rotation_keeps_max_files_in_order);
    RUN(test_disk_full_fails_naming_the_path);
    RUN(test_unopenable_path_is_reported);
    RUN(test_runner_delivers_outbox_to_file_in_order);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", tmpdir);
    return harness_finish();
}
