/* Tests of publishers/outbox (real SQLite files in a temp dir) and the audit chain head
 * it carries: visibility of committed events only, group commit, cursors across restart,
 * pruning, the size bound, dead letters, a full disk, and kill -9 at random points. */
#include "publishers/outbox.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "publishers/audit.h"
#include "tests/harness.h"
#include "util/log.h"
#include "util/timeutil.h"

static char tmpdir[256];
static int db_counter;

static void fresh_path(char *out, size_t size)
{
    snprintf(out, size, "%s/outbox-%d.db", tmpdir, ++db_counter);
}

static struct outbox *open_outbox(const char *path, int64_t max_bytes, int max_events)
{
    char err[512] = "";
    struct outbox_options opts = {.path = path, .max_bytes = max_bytes,
                                  .commit_max_events = max_events, .commit_interval_ms = 5,
                                  .maintain_interval_ms = -1};
    struct outbox *ob = outbox_create(&opts, err, sizeof err);
    if (!ob)
        printf("# outbox_create: %s\n", err);
    return ob;
}

/* A new outbox at a fresh path with one reader for sink; NULL (and nothing left open)
 * when either cannot be made. */
static struct outbox *open_fresh_with_reader(char *path, size_t size, int64_t max_bytes,
                                             int max_events, const char *sink,
                                             struct outbox_reader **reader)
{
    char err[512] = "";
    fresh_path(path, size);
    struct outbox *ob = open_outbox(path, max_bytes, max_events);
    *reader = ob ? outbox_reader_create(ob, sink, err, sizeof err) : NULL;
    if (ob && !*reader) {
        printf("# outbox_reader_create: %s\n", err);
        outbox_destroy(ob);
        return NULL;
    }
    return ob;
}

/* One integer a read-only connection gets from sql, or -1. */
static int64_t query_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    int64_t value = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
        value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
}

static int64_t page_size_of(const char *path) { return query_int(path, "PRAGMA page_size"); }

static int64_t count_rows(const char *path)
{
    return query_int(path, "SELECT COUNT(*) FROM events");
}

static int append_n(struct outbox *ob, int n, const char *subject, int data_pad)
{
    char err[512];
    char id[64], *data = malloc((size_t)data_pad + 64);
    int appended = 0;
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof id, "%s-%d", subject, i);
        int len = snprintf(data, 64, "{\"n\":%d,\"pad\":\"", i);
        memset(data + len, 'x', (size_t)data_pad);
        strcpy(data + len + data_pad, "\"}");
        struct relay_event *ev = relay_event_create(id, "cx.outbound.campaign.progress",
                                                    "src", subject, 1000 + i,
                                                    EVENT_FAMILY_STATE, data);
        int status = outbox_append(ob, ev, NULL, NULL, err, sizeof err);
        relay_event_free(ev);
        if (status != OUTBOX_OK)
            break;
        appended++;
    }
    free(data);
    return appended;
}

static int fetch_all(struct outbox_reader *reader, int64_t after, struct outbox_record *recs,
                     int max)
{
    char err[512];
    int count = -1;
    if (outbox_reader_fetch(reader, after, max, recs, &count, err, sizeof err) != OUTBOX_OK)
        printf("# fetch: %s\n", err);
    return count;
}

static void test_only_committed_events_are_visible(void)
{
    char path[300], err[512] = "";
    struct outbox_reader *reader = NULL;
    struct outbox *ob = open_fresh_with_reader(path, sizeof path, 0, 1000, "file", &reader);
    REQUIRE(ob != NULL);
    CHECK_EQ_INT(append_n(ob, 3, "c1", 4), 3);
    CHECK_EQ_INT(outbox_pending(ob), 3);
    struct outbox_record recs[10];
    CHECK_EQ_INT(fetch_all(reader, 0, recs, 10), 0);
    CHECK_EQ_INT(outbox_committed_seq(ob), 0);
    CHECK_EQ_INT(outbox_flush(ob, err, sizeof err), OUTBOX_OK);
    CHECK_EQ_INT(outbox_committed_seq(ob), 3);
    int n = fetch_all(reader, 0, recs, 10);
    CHECK_EQ_INT(n, 3);
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "c1-%d", i);
        CHECK_EQ_INT(recs[i].seq, i + 1);
        CHECK_EQ_STR(recs[i].event->id, id);
        CHECK_EQ_STR(recs[i].event->subject, "c1");
        CHECK_EQ_STR(recs[i].event->type, "cx.outbound.campaign.progress");
        CHECK_EQ_INT(recs[i].event->time_ms, 1000 + i);
        CHECK_CONTAINS(recs[i].event->data, "\"pad\":\"xxxx\"");
        /* The sinks take the length from the record instead of measuring the text. */
        CHECK_EQ_INT((int64_t)recs[i].event->data_len, (int64_t)strlen(recs[i].event->data));
    }
    outbox_records_free(recs, n);
    outbox_reader_destroy(reader);
    outbox_destroy(ob);
}

/* A new outbox gets 16 KiB pages unless its budget is small; a database keeps the page
 * size it was created with, and one made with SQLite's default still works. */
static void test_page_size_of_new_and_existing_outboxes(void)
{
    char path[300], err[512];
    fresh_path(path, sizeof path);
    struct outbox *ob = open_outbox(path, 0, 1000);
    REQUIRE(ob != NULL);
    outbox_destroy(ob);
    CHECK_EQ_INT(page_size_of(path), 16384);

    fresh_path(path, sizeof path);
    ob = open_outbox(path, 1024 * 1024, 1000);
    REQUIRE(ob != NULL);
    outbox_destroy(ob);
    CHECK_EQ_INT(page_size_of(path), 4096);

    /* Created by an earlier version, with 4 KiB pages and an event in it. */
    fresh_path(path, sizeof path);
    ob = open_outbox(path, 1024 * 1024, 1000);
    REQUIRE(ob != NULL);
    CHECK_EQ_INT(append_n(ob, 3, "old", 10), 3);
    outbox_destroy(ob);
    ob = open_outbox(path, 0, 1000);
    REQUIRE(ob != NULL);
    CHECK_EQ_INT(append_n(ob, 2, "new", 10), 2);
    CHECK_EQ_INT(outbox_flush(ob, err, sizeof err), OUTBOX_OK);
    struct outbox_reader *reader = outbox_reader_create(ob, "file", err, sizeof err);
    REQUIRE(reader != NULL);
    struct outbox_record recs[10];
    int n = fetch_all(reader, 0, recs, 10);
    CHECK_EQ_INT(n, 5);
    if (n == 5) {
        CHECK_EQ_STR(recs[0].event->id, "old-0");
        CHECK_EQ_STR(recs[4].event->id, "new-1");
        CHECK_EQ_INT(recs[4].seq, 5);
    }
    outbox_records_free(recs, n);
    outbox_reader_destroy(reader);
    outbox_destroy(ob);
    CHECK_EQ_INT(page_size_of(path), 4096);
}

static void test_group_commit_by_count_and_interval(void)
{
    char path[300], err[512];
    fresh_path(path, sizeof path);
    struct outbox *ob = open_outbox(path, 0, 10);
    REQUIRE(ob != NULL);
    CHECK_EQ_INT(append_n(ob, 9, "c", 0), 9);
    CHECK_EQ_INT(outbox_committed_seq(ob), 0);
    CHECK_EQ_INT(append_n(ob, 1, "d", 0), 1);
    CHECK_EQ_INT(outbox_committed_seq(ob), 10); /* the 10th append committed the batch */
    CHECK_EQ_INT(outbox_commit_due_in_ms(ob, time_mono_ms()), -1); /* nothing open */
    CHECK_EQ_INT(append_n(ob, 2, "e", 0), 2);
    int64_t now = time_mono_ms();
    int64_t due_in = outbox_commit_due_in_ms(ob, now);
    CHECK_MSG(due_in >= 0 && due_in <= 5, "due in %lld ms", (long long)due_in);
    CHECK_EQ_INT(outbox_commit_due_in_ms(ob, now + 6), 0);
    CHECK_EQ_INT(outbox_flush_due(ob, now, err, sizeof err), OUTBOX_OK);
    CHECK_EQ_INT(outbox_committed_seq(ob), 10); /* interval not passed yet */
    CHECK_EQ_INT(outbox_flush_due(ob, now + 6, err, sizeof err), OUTBOX_OK);
    CHECK_EQ_INT(outbox_committed_seq(ob), 12);
    CHECK_EQ_INT(outbox_commit_due_in_ms(ob, now + 6), -1);
    outbox_destroy(ob);
}

static void test_cursor_survives_restart_and_replays_same_ids(void)
{
    char path[300], err[512] = "";
    struct outbox_reader *reader = NULL;
    struct outbox *ob = open_fresh_with_reader(path, sizeof path, 0, 1000, "kafka", &reader);
    REQUIRE(ob != NULL);
    append_n(ob, 8, "c", 0);
    outbox_flush(ob, err, sizeof err);
    outbox_reader_set_cursor(reader, 5, err, sizeof err);
    outbox_reader_set_cursor(reader, 3, err, sizeof err); /* never backwards */
    CHECK_EQ_INT(outbox_reader_cursor(reader), 5);
    CHECK_EQ_INT(outbox_flush(ob, err, sizeof err), OUTBOX_OK);
    int64_t stored = -1;
    CHECK_EQ_INT(outbox_sink_cursor(ob, "kafka", &stored, err, sizeof err), OUTBOX_OK);
    CHECK_EQ_INT(stored, 5);
    CHECK_EQ_INT(outbox_sink_cursor(ob, "nosuch", &stored, err, sizeof err), OUTBOX_ERROR);
    CHECK_CONTAINS(err, "nosuch");
    outbox_reader_destroy(reader);
    outbox_destroy(ob);

    ob = open_outbox(path, 0, 1000);
    REQUIRE(ob != NULL);
    CHECK_EQ_INT(outbox_committed_seq(ob), 8);
    reader = outbox_reader_create(ob, "kafka", err, sizeof err);
    REQUIRE(reader != NULL);
    CHECK_EQ_INT(outbox_reader_cursor(reader), 5);
    struct outbox_record recs[10];
    int n = fetch_all(reader, outbox_reader_cursor(reader), recs, 10);
    CHECK_EQ_INT(n, 3);
    if (n == 3) {
        CHECK_EQ_INT(recs[0].seq, 6);
        CHECK_EQ_STR(recs[0].event->id, "c-5");
        CHECK_EQ_STR(recs[2].event->id, "c-7");
    }
    outbox_records_free(recs, n);
    outbox_reader_destroy(reader);
    outbox_destroy(ob);
}

struct snapshot_seen {
    int count;
    char keys[4][16];
    char json[4][64];
};

static void collect_snapshot(void *opaque, const char *key, const char *json)
{
    struct snapshot_seen *seen = opaque;
    if (seen->count < 4) {
        snprintf(seen->keys[seen->count], 16, "%s", key);
        snprintf(seen->json[seen->count], 64, "%s", json);
    }
    seen->count++;
}

static void test_snapshot_and_meta_commit_with_events(void)
{
    char path[300], err[512];
    fresh_path(path, sizeof path);
    struct outbox *ob = open_outbox(path, 0, 1000);
    REQUIRE(ob != NULL);
    CHECK_EQ_INT(outbox_snapshot_put(ob, "camp-b", "{\"state\":\"RUNNING\"}", err, sizeof err),
                 OUTBOX_OK);
    CHECK_EQ_INT(outbox_snapshot_put(ob, "camp-a", "{\"state\":\"STOPPED\"}", err, sizeof err),
                 OUTBOX_OK);
    CHECK_EQ_INT(outbox_meta_set(ob, "k", "v1", err, sizeof err), OUTBOX_OK);
    append_n(ob, 1, "camp-b", 0);
    outbox_flush(ob, err, sizeof err);
    /* A second batch that is never committed (process dies): none of it may survive. */
    outbox_snapshot_put(ob, "camp-a", NULL, err, sizeof err);
    outbox_meta_set(ob, "k", "v2", err, sizeof err);
    append_n(ob, 1, "camp-a", 0);
    char *value = NULL;
    CHECK_EQ_INT(outbox_meta_get(ob, "k", &value, err, sizeof err), OUTBOX_OK);
    CHECK_EQ_STR(value, "v2"); /* the writer sees its own pending writes */
    free(value);
    /* Model a crash: copy the database files as they are on disk right now. */
    char copy[320], cmd[1400];
    snprintf(copy, sizeof copy, "%s.crash", path);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && (cp '%s-wal' '%s-wal' 2>/dev/null || true)",
             path, copy, path, copy);
    CHECK_EQ_INT(system(cmd), 0);
    outbox_destroy(ob);

    ob = open_outbox(copy, 0, 1000);
    REQUIRE(ob != NULL);
    struct snapshot_seen seen = {0};
    CHECK_EQ_INT(outbox_snapshot_load(ob, collect_snapshot, &seen, err, sizeof err), OUTBOX_OK);
    CHECK_EQ_INT(seen.count, 2);
    CHECK_EQ_STR(seen.keys[0], "camp-a");
    CHECK_EQ_STR(seen.json[0], "{\"state\":\"STOPPED\"}");
    CHECK_EQ_STR(seen.keys[1], "camp-b");
    CHECK_EQ_INT(outbox_meta_get(ob, "k", &value, err, sizeof err), OUTBOX_OK);
    CHECK_EQ_STR(value, "v1");
    free(value);
    CHECK_EQ_INT(outbox_committed_seq(ob), 1);
    outbox_destroy(ob);
}

static void test_pruning_never_reuses_seqs(void)
{
    char path[300], err[512];
    fresh_path(path, sizeof path);
    struct outbox *ob = open_outbox(path, 0, 1000);
    REQUIRE(ob != NULL);
    struct outbox_reader *a = outbox_reader_create(ob, "a", err, sizeof err);
    struct outbox_reader *b = outbox_reader_create(ob, "b", err, sizeof err);
    REQUIRE(a && b);
    append_n(ob, 20, "c", 0);
    outbox_flush(ob, err, sizeof err);
    outbox_reader_set_cursor(a, 20, err, sizeof err);
    outbox_reader_set_cursor(b, 12, err, sizeof err);
    outbox_flush(ob, err, sizeof err);
    int64_t pruned = -1;
    CHECK_EQ_INT(outbox_maintain(ob, 0, &pruned, err, sizeof err), OUTBOX_OK);
    CHECK_EQ_INT(pruned, 12); /* only what both sinks finished */
    struct outbox_record recs[30];
    int n = fetch_all(b, 0, recs, 30);
    CHECK_EQ_INT(n, 8);
    if (n > 0)
        CHECK_EQ_INT(recs[0].seq, 13);
    outbox_records_free(recs, n);
    outbox_reader_set_cursor(b, 20, err, sizeof err);
    outbox_flush(ob, err, sizeof err);
    CHECK_EQ_INT(outbox_maintain(ob, 0, &pruned, err, sizeof err), OUTBOX_OK);
    CHECK_EQ_INT(pruned, 8);
    outbox_reader_destroy(a);
    outbox_reader_destroy(b);
    outbox_destroy(ob);

    /* Every row is gone; a restart must continue after 20, not at 1. */
    ob = open_outbox(path, 0, 1000);
    REQUIRE(ob != NULL);
    int64_t seq = 0;
    struct relay_event *ev = relay_event_create("x", "t", "s", "c", 1, EVENT_FAMILY_STATE, "{}");
    CHECK_EQ_INT(outbox_append(ob, ev, NULL, &seq, err, sizeof err), OUTBOX_OK);
    relay_event_free(ev);
    CHECK_EQ_INT(seq, 21);
    outbox_destroy(ob);
}

static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

/* Empties the WAL, prunes everything (events were all delivered) and checks that the prune
 * wrote less than a tenth of the pages the events fill. */
static void check_prune_writes_little(struct outbox *ob, const char *path, int events, int pad)
{
    char wal[320], err[512] = "";
    snprintf(wal, sizeof wal, "%s-wal", path);
    /* Start the WAL empty so that its size afterwards is what the prune wrote. */
    sqlite3 *db = NULL;
    REQUIRE(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK);
    /* A connection finds the WAL when it first reads. */
    CHECK_EQ_INT(sqlite3_exec(db, "SELECT COUNT(*) FROM sqlite_master", NULL, NULL, NULL),
                 SQLITE_OK);
    CHECK_EQ_INT(sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL),
                 SQLITE_OK);
    sqlite3_close(db);
    CHECK_EQ_INT(file_size(wal), 0);

    int64_t pruned = -1;
    CHECK_EQ_INT(outbox_maintain(ob, 0, &pruned, err, sizeof err), OUTBOX_OK);
    CHECK_EQ_INT(pruned, events);
    CHECK_EQ_INT(count_rows(path), 0);
    const int64_t page = page_size_of(path);
    REQUIRE(page > 0);
    int64_t data_pages = (int64_t)events * pad / page;
    int64_t written_pages = file_size(wal) / page;
    printf("# the prune of %d events (%lld pages) wrote %lld pages to the WAL\n", events,
           (long long)data_pages, (long long)written_pages);
    CHECK_MSG(written_pages < data_pages / 10, "pruning wrote %lld pages for %lld of data",
              (long long)written_pages, (long long)data_pages);
}

/* Pruning frees whole pages of delivered events. They must not be zeroed and written
 * again (SQLite's secure_delete, on in Debian's build): the WAL and the checkpoint would
 * carry every pruned byte a second time. */
static void test_pruning_does_not_rewrite_freed_pages(void)
{
    char path[300], err[512] = "";
    struct outbox_reader *reader = NULL;
    struct outbox *ob = open_fresh_with_reader(path, sizeof path, 0, 1000, "a", &reader);
    REQUIRE(ob != NULL);
    /* Two events to a page: SQLite empties and frees each page without moving rows
     * between pages, so what the prune writes is only what secure_delete adds. */
    const int64_t page = page_size_of(path);
    REQUIRE(page >= 4096);
    const int events = 400, pad = (int)(page / 2) - 100;
    CHECK_EQ_INT(append_n(ob, events, "c", pad), events);
    CHECK_EQ_INT(outbox_reader_set_cursor(reader, events, err, sizeof err), OUTBOX_OK);
    CHECK_EQ_INT(outbox_flush(ob, err, sizeof err), OUTBOX_OK);
    /* The events filled about 200 pages; the prune changes the tree's few inner pages,
     * the freelist and the last partly filled leaf. */
    check_prune_writes_little(ob, path, events, pad);
    outbox_reader_destroy(reader);
    outbox_destroy(ob);
}

/* Events of about the relay's average size (540 bytes), many to a page. Deleted row by row,
 * SQLite moved the rows left on each page into its neighbours and the prune rewrote about
 * as many pages as the events had filled (7.3 MB of WAL for 5.4 MB of events with 16 KiB
 * pages). Segments every sink finished are emptied whole instead; the reader sees the
 * events of all segments as one sequence. */
static void test_finished_segments_are_emptied_whole(void)
{
    char path[300], err[512] = "";
    struct outbox_reader *reader = NULL;
    struct outbox *ob = open_fresh_with_reader(path, sizeof path, 0, 1000, "a", &reader);
    REQUIRE(ob != NULL);
    const int events = (3 * OUTBOX_SEGMENT_ROWS / 100 + 1) * 100, pad = 500;
    int appended = 0;
    for (int i = 0; i < events / 100; i++)
        appended += append_n(ob, 100, "s", pad);
    CHECK_EQ_INT(appended, events);
    CHECK_EQ_INT(outbox_flush(ob, err, sizeof err), OUTBOX_OK);

    /* In seq order across the segments, each event once. */
    struct outbox_record recs[1000];
    int64_t after = 0, read = 0;
    bool in_order = true;
    for (;;) {
        int n = fetch_all(reader, after, recs, 1000);
        if (n <= 0)
            break;
        for (int i = 0; i < n; i++) {
            char id[32];
            snprintf(id, sizeof id, "s-%lld", (long long)((recs[i].seq - 1) % 100));
            if (recs[i].seq != after + 1 + i || strcmp(recs[i].event->id, id) != 0)
                in_order = false;
        }
        after = recs[n - 1].seq;
        read += n;
        outbox_records_free(recs, n);
    }
    CHECK_MSG(in_order, "the reader's events were not 1, 2, 3, ... with their own ids");
    CHECK_EQ_INT(read, events);
    CHECK_EQ_INT(outbox_reader_set_cursor(reader, events, err, sizeof err), OUTBOX_OK);
    CHECK_EQ_INT(outbox_flush(ob, err, sizeof err), OUTBOX_OK);
    check_prune_writes_little(ob, path, events, pad);

    /* Appends go on after the last seq, and the emptied segments take them. */
    CHECK_EQ_INT(append_n(ob, 2 * OUTBOX_SEGMENT_ROWS, "t", 10), 2 * OUTBOX_SEGMENT_ROWS);
    CHECK_EQ_INT(outbox_flush(ob, err, sizeof err), OUTBOX_OK);
    int n = fetch_all(reader, events, recs, 1);
    CHECK_EQ_INT(n, 1);
    if (n == 1) {
        CHECK_EQ_INT(recs[0].seq, events + 1);
        CHECK_EQ_STR(recs[0].event->id, "t-0");
        outbox_records_free(recs, n);
    }
    CHECK_EQ_INT(count_rows(path), 2 * OUTBOX_SEGMENT_ROWS);
    outbox_reader_destroy(reader);
    outbox_destroy(ob);
}

/* A bounded prune counts the segments it empties against its bound: four rows past one
 * segment, with more delivered, prunes exactly that many. */
static void test_bounded_prune_counts_emptied_segments(void)
{
    char path[300], err[512] = "";
    struct outbox_reader *reader = NULL;
    struct outbox *ob = open_fresh_with_reader(path, sizeof path, 0, 1000, "a", &reader);
    REQUIRE(ob != NULL);
    const int events = 3 * OUTBOX_SEGMENT_ROWS;
    int appended = 0;
    while (appended < events)
        appended += append_n(ob, 1024, "s", 10);
    CHECK_EQ_INT(appended, events);
    CHECK_EQ_INT(outbox_reader_set_cursor(reader, events, err, sizeof err), OUTBOX_OK);
    CHECK_EQ_INT(outbox_flush(ob, err, sizeof err), OUTBOX_OK);
    int64_t pruned = -1;
    CHECK_EQ_INT(outbox_maintain(ob, OUTBOX_SEGMENT_ROWS + 4, &pruned, err, sizeof err),
                 OUTBOX_OK);
    CHECK_EQ_INT(pruned, OUTBOX_SEGMENT_ROWS + 4);
    CHECK_EQ_INT(count_rows(path), events - OUTBOX_SEGMENT_ROWS - 4);
    outbox_reader_destroy(reader);
    outbox_destroy(ob);
}

/* With a sink that never moves, the writer wraps round to a segment that still holds
 * events and looks at it again every few hundred appends; then the sink catches up part
 * way and pruning runs, bounded and not. None of that, nor reading, may scan a table:
 * a scan costs in proportion to the backlog each time. */
static void test_no_statement_scans_the_backlog(void)
{
    char path[300], err[512] = "";
    struct outbox_reader *reader = NULL;
    struct outbox *ob = open_fresh_with_reader(path, sizeof path, 0, 1000, "a", &reader);
    REQUIRE(ob != NULL);
    const int events = OUTBOX_SEGMENTS * OUTBOX_SEGMENT_ROWS + OUTBOX_SEGMENT_ROWS / 2;
    int appended = 0;
    while (appended < events)
        appended += append_n(ob, 1024, "s", 200);
    struct relay_event *targeted = relay_event_create("t-1", "cx.outbound.campaign.progress",
                                                      "src", "t", 1, EVENT_FAMILY_STATE,
                                                      "{}");
    CHECK_EQ_INT(outbox_append(ob, targeted, "a", NULL, err, sizeof err), OUTBOX_OK);
    relay_event_free(targeted);
    CHECK_EQ_INT(outbox_flush(ob, err, sizeof err), OUTBOX_OK);

    struct outbox_record recs[1000];
    int64_t after = 0;
    for (int n; (n = fetch_all(reader, after, recs, 1000)) > 0;) {
        after = recs[n - 1].seq;
        outbox_records_free(recs, n);
    }
    CHECK_EQ_INT(after, events + 1);
    CHECK_EQ_INT(outbox_reader_set_cursor(reader, 2 * OUTBOX_SEGMENT_ROWS + 100, err,
                                          sizeof err),
                 OUTBOX_OK);
    CHECK_EQ_INT(outbox_flush(ob, err, sizeof err), OUTBOX_OK);
    int64_t pruned = 0, more = 0;
    CHECK_EQ_INT(outbox_maintain(ob, OUTBOX_SEGMENT_ROWS + 50, &pruned, err, sizeof err),
                 OUTBOX_OK);
    CHECK_EQ_INT(outbox_maintain(ob, 0, &more, err, sizeof err), OUTBOX_OK);
    CHECK_EQ_INT(pruned + more, 2 * OUTBOX_SEGMENT_ROWS + 100);
    CHECK_EQ_INT(outbox_reader_set_cursor(reader, events + 1, err, sizeof err), OUTBOX_OK);
    CHECK_EQ_INT(outbox_flush(ob, err, sizeof err), OUTBOX_OK);
    CHECK_EQ_INT(outbox_maintain(ob, 0, &more, err, sizeof err), OUTBOX_OK);
    CHECK_EQ_INT(count_rows(path), 0);

    CHECK_EQ_INT(outbox_full_scan_rows(ob), 0);
    CHECK_EQ_INT(outbox_reader_full_scan_rows(reader), 0);
    outbox_reader_destroy(reader);
    outbox_destroy(ob);
}

/* One record as text: what a sink sees of it, a line; or its seq alone. */
static void describe_record(const struct outbox_record *rec, bool seq_only,
                            struct strbuf *out)
{
    char line[160];
    if (seq_only) {
        snprintf(line, sizeof line, "%lld ", (long long)rec->seq);
        strbuf_append(out, line);
        return;
    }
    snprintf(line, sizeof line, "%lld %s %s %s %lld %d ", (long long)rec->seq,
             rec->event->id, rec->event->type, rec->event->subject,
             (long long)rec->event->time_ms, (int)rec->event->family);
    strbuf_append(out, line);
    strbuf_append(out, rec->event->source);
    strbuf_append_char(out, ' ');
    strbuf_append_len(out, rec->event->data, relay_event_data_len(rec->event));
    strbuf_append_char(out, '\n');
}

/* Fetches everything after `after` in batches of `batch` (<= 500), describing each
 * record; returns the last seq read. */
static int64_t read_described(struct outbox_reader *reader, int64_t after, int batch,
                              bool seq_only, struct strbuf *out)
{
    struct outbox_record recs[500];
    for (int n; (n = fetch_all(reader, after, recs, batch)) > 0;) {
        for (int i = 0; i < n; i++)
            describe_record(&recs[i], seq_only, out);
        after = recs[n - 1].seq;
        outbox_records_free(recs, n);
    }
    return after;
}

static int append_targeted(struct outbox *ob, const char *id, const char *target)
{
    char err[512];
    struct relay_event *ev = relay_event_create(id, "cx.outbound.alert.dead_letter", "src",
                                                "", 7, EVENT_FAMILY_ALERT, "{\"to\":1}");
    int status = outbox_append(ob, ev, target, NULL, err, sizeof err);
    relay_event_free(ev);
    return status;
}

/* Readers that keep up take the events from memory, and see exactly what the database
 * holds: the same records a reader of the reopened file reads back, targeted rows
 * included. */
static void test_readers_close_behind_read_from_memory(void)
{
    char path[300], err[512] = "";
    fresh_path(path, sizeof path);
    struct outbox *ob = open_outbox(path, 0, 1000);
    REQUIRE(ob != NULL);
    struct outbox_reader *a = outbox_reader_create(ob, "a", err, sizeof err);
    struct outbox_reader *b = outbox_reader_create(ob, "b", err, sizeof err);
    REQUIRE(a != NULL && b != NULL);
    struct strbuf seen_a, seen_b, stored_a, stored_b;
    strbuf_init(&seen_a);
    strbuf_init(&seen_b);
    strbuf_init(&stored_a);
    strbuf_init(&stored_b);
    int64_t after_a = 0, after_b = 0;
    for (int round = 0; round < 5; round++) {
        CHECK_EQ_INT(append_n(ob, 150, round % 2 ? "odd" : "even", 300), 150);
        CHECK_EQ_INT(append_targeted(ob, round % 2 ? "for-a" : "for-b", round % 2 ? "a" : "b"),
                     OUTBOX_OK);
        CHECK_EQ_INT(outbox_flush(ob, err, sizeof err), OUTBOX_OK);
        after_a = read_described(a, after_a, 64, false, &seen_a);
        after_b = read_described(b, after_b, 500, false, &seen_b);
    }
    CHECK_EQ_INT(outbox_reader_rows_from_disk(a), 0);
    CHECK_EQ_INT(outbox_reader_rows_from_disk(b), 0);
    CHECK_EQ_INT(outbox_reader_rows_from_memory(a), 5 * 150 + 2);
    CHECK_EQ_INT(outbox_reader_rows_from_memory(b), 5 * 150 + 3);
    outbox_reader_destroy(a);
    outbox_reader_destroy(b);
    outbox_destroy(ob);

    ob = open_outbox(path, 0, 1000);
    REQUIRE(ob != NULL);
    a = outbox_reader_create(ob, "a2", err, sizeof err);
    b = outbox_reader_create(ob, "b2", err, sizeof err);
    REQUIRE(a != NULL && b != NULL);
    read_described(a, 0, 500, false, &stored_a);
    read_described(b, 0, 500, false, &stored_b);
    CHECK_EQ_INT(outbox_reader_rows_from_memory(a), 0);
    CHECK_EQ_INT(outbox_reader_rows_from_disk(a), 5 * 150); /* a2 and b2 get no targeted */
    CHECK_EQ_INT(outbox_reader_rows_from_disk(b), 5 * 150);
    CHECK_MSG(strstr(strbuf_cstr(&seen_a), "for-a") && !strstr(strbuf_cstr(&seen_a), "for-b"),
              "reader a did not get exactly the events for it and for all");
    /* What a and b saw, less the targeted rows, is what the file holds. */
    struct strbuf *seen[2] = {&seen_a, &seen_b}, *stored[2] = {&stored_a, &stored_b};
    for (int k = 0; k < 2; k++) {
        struct strbuf untargeted;
        strbuf_init(&untargeted);
        for (const char *line = strbuf_cstr(seen[k]); *line;) {
            const char *end = strchr(line, '\n');
            if (!strstr(line, " for-") || strstr(line, " for-") > end)
                strbuf_append_len(&untargeted, line, (size_t)(end - line + 1));
            line = end + 1;
        }
        CHECK_EQ_STR(strbuf_cstr(&untargeted), strbuf_cstr(stored[k]));
        strbuf_free(&untargeted);
    }
    strbuf_free(&seen_a);
    strbuf_free(&seen_b);
    strbuf_free(&stored_a);
    strbuf_free(&stored_b);
    outbox_reader_destroy(a);
    outbox_reader_destroy(b);
    outbox_destroy(ob);
}

/* A reader left further behind than the window reads the start from the database and
 * joins the window when it gets there: every seq once, in order. */
static void test_reader_far_behind_reads_from_disk_then_memory(void)
{
    char path[300], err[512] = "";
    struct outbox_reader *reader = NULL;
    struct outbox *ob = open_fresh_with_reader(path, sizeof path, 0, 1000, "a", &reader);
    REQUIRE(ob != NULL);
    const int events = OUTBOX_HOT_EVENTS + 2000;
    int appended = 0;
    while (appended < events)
        appended += append_n(ob, events - appended < 1000 ? events - appended : 1000, "s", 100);
    CHECK_EQ_INT(outbox_flush(ob, err, sizeof err), OUTBOX_OK);
    struct outbox_record recs[500];
    int64_t after = 0;
    bool in_order = true;
    for (int n; (n = fetch_all(reader, after, recs, 500)) > 0;) {
        for (int i = 0; i < n; i++)
            if (recs[i].seq != after + 1 + i)
                in_order = false;
        after = recs[n - 1].seq;
        outbox_records_free(recs, n);
        if (after >= events - 500 && after < events) { /* keep writing meanwhile */
            CHECK_EQ_INT(append_n(ob, 100, "t", 100), 100);
            CHECK_EQ_INT(outbox_flush(ob, err, sizeof err), OUTBOX_OK);
        }
    }
    CHECK_MSG(in_order, "the reader's seqs were not 1, 2, 3, ...");
    CHECK_EQ_INT(after, events + 100);
    uint64_t from_disk = outbox_reader_rows_from_disk(reader);
    uint64_t from_memory = outbox_reader_rows_from_memory(reader);
    CHECK_MSG(from_disk >= 2000 && from_memory > 0,
              "expected the first 2,000+ from disk and the rest from memory");
    CHECK_EQ_INT(from_disk + from_memory, events + 100);
    outbox_reader_destroy(reader);
    outbox_destroy(ob);
}

/* A sink that rewinds (its engine dropped what was in flight) asks again from an
 * earlier seq: it gets every record for it once more, whether the window still holds
 * them or they have to come from disk, with the rows for another sink left out. */
static void test_reader_rewinding_gets_every_record_again(void)
{
    char path[300], err[512] = "";
    fresh_path(path, sizeof path);
    struct outbox *ob = open_outbox(path, 0, 1000);
    REQUIRE(ob != NULL);
    struct outbox_reader *a = outbox_reader_create(ob, "a", err, sizeof err);
    struct outbox_reader *b = outbox_reader_create(ob, "b", err, sizeof err);
    REQUIRE(a != NULL && b != NULL);
    for (int i = 0; i < 10; i++) {
        CHECK_EQ_INT(append_n(ob, 9, "s", 10), 9);
        CHECK_EQ_INT(append_targeted(ob, "for-b", "b"), OUTBOX_OK);
    }
    CHECK_EQ_INT(outbox_flush(ob, err, sizeof err), OUTBOX_OK);
    struct strbuf first, from_memory, from_disk;
    strbuf_init(&first);
    strbuf_init(&from_memory);
    strbuf_init(&from_disk);
    read_described(a, 0, 7, true, &first);
    /* b has fetched nothing: the window holds it all. */
    read_described(a, 20, 7, true, &from_memory);
    CHECK_EQ_INT(outbox_reader_rows_from_disk(a), 0);
    struct strbuf b_seqs;
    strbuf_init(&b_seqs);
    read_described(b, 0, 7, true, &b_seqs);
    CHECK_EQ_STR(strbuf_cstr(&b_seqs), "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 "
                                      "21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 "
                                      "39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 "
                                      "57 58 59 60 61 62 63 64 65 66 67 68 69 70 71 72 73 74 "
                                      "75 76 77 78 79 80 81 82 83 84 85 86 87 88 89 90 91 92 "
                                      "93 94 95 96 97 98 99 100 ");
    /* Both are past everything: the window lets it go at the writer's next commit. */
    CHECK_EQ_INT(append_n(ob, 1, "next", 10), 1);
    CHECK_EQ_INT(outbox_flush(ob, err, sizeof err), OUTBOX_OK);
    read_described(a, 20, 7, true, &from_disk);
    CHECK(outbox_reader_rows_from_disk(a) > 0);
    const char *all = strbuf_cstr(&first);
    CHECK_MSG(!strstr(all, " 10 ") && !strstr(all, " 100 ") && strstr(all, " 99 "),
              "reader a got a row targeted at b, or missed one of its own: %s", all);
    const char *after_20 = strstr(all, " 21 ") + 1;
    CHECK_EQ_STR(strbuf_cstr(&from_memory), after_20);
    strbuf_append(&first, "101 ");
    CHECK_EQ_STR(strbuf_cstr(&from_disk), strstr(strbuf_cstr(&first), " 21 ") + 1);
    strbuf_free(&first);
    strbuf_free(&from_memory);
    strbuf_free(&from_disk);
    strbuf_free(&b_seqs);
    outbox_reader_destroy(a);
    outbox_reader_destroy(b);
    outbox_destroy(ob);
}

/* Another process (dlq replay) appends between two of our commits: the reader gets its
 * events from the database and ours after them, in seq order. */
static void test_window_skips_seqs_another_writer_took(void)
{
    char path[300], err[512] = "";
    struct outbox_reader *reader = NULL;
    struct outbox *ob = open_fresh_with_reader(path, sizeof path, 0, 1000, "a", &reader);
    REQUIRE(ob != NULL);
    CHECK_EQ_INT(append_n(ob, 10, "ours", 10), 10);
    CHECK_EQ_INT(outbox_flush(ob, err, sizeof err), OUTBOX_OK);
    struct strbuf seen;
    strbuf_init(&seen);
    int64_t after = read_described(reader, 0, 500, false, &seen);
    CHECK_EQ_INT(after, 10);

    struct outbox *other = open_outbox(path, 0, 1000);
    REQUIRE(other != NULL);
    CHECK_EQ_INT(append_n(other, 5, "theirs", 10), 5);
    CHECK_EQ_INT(outbox_flush(other, err, sizeof err), OUTBOX_OK);
    outbox_destroy(other);
    after = read_described(reader, after, 500, false, &seen);
    CHECK_EQ_INT(after, 15);
    CHECK_EQ_INT(append_n(ob, 10, "later", 10), 10);
    CHECK_EQ_INT(outbox_flush(ob, err, sizeof err), OUTBOX_OK);
    after = read_described(reader, after, 500, false, &seen);
    CHECK_EQ_INT(after, 25);
    CHECK_EQ_INT(outbox_reader_rows_from_disk(reader), 5);
    CHECK_EQ_INT(outbox_reader_rows_from_memory(reader), 20);
    CHECK_CONTAINS(strbuf_cstr(&seen), "\n15 theirs-4 ");
    CHECK_CONTAINS(strbuf_cstr(&seen), "\n16 later-0 ");
    strbuf_free(&seen);
    outbox_reader_destroy(reader);
    outbox_destroy(ob);
}

/* An outbox written by the version that kept every event in one table: its events, cursor
 * and sequence carry over. */
static void test_single_table_outbox_is_upgraded(void)
{
    char path[300], err[512] = "";
    fresh_path(path, sizeof path);
    sqlite3 *db = NULL;
    REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
    const char *version_1 =
        "PRAGMA journal_mode=WAL;"
        "CREATE TABLE events(seq INTEGER PRIMARY KEY, id TEXT NOT NULL, type TEXT NOT NULL,"
        " family INTEGER NOT NULL, subject TEXT NOT NULL, source TEXT NOT NULL,"
        " time_ms INTEGER NOT NULL, data TEXT NOT NULL, target TEXT);"
        "CREATE INDEX events_target ON events(target) WHERE target IS NOT NULL;"
        "CREATE TABLE cursors(sink TEXT PRIMARY KEY, seq INTEGER NOT NULL,"
        " updated_ms INTEGER NOT NULL);"
        "CREATE TABLE dead_letters(id INTEGER PRIMARY KEY, sink TEXT NOT NULL,"
        " seq INTEGER NOT NULL, event_id TEXT NOT NULL, type TEXT NOT NULL,"
        " family INTEGER NOT NULL, subject TEXT NOT NULL, source TEXT NOT NULL,"
        " time_ms INTEGER NOT NULL, data TEXT NOT NULL, reason TEXT NOT NULL,"
        " dead_ms INTEGER NOT NULL);"
        "CREATE TABLE snapshot(key TEXT PRIMARY KEY, json TEXT NOT NULL);"
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO events VALUES(7, 'old-7', 't', 0, 'c', 'src', 1, '{\"n\":7}', NULL),"
        " (8, 'old-8', 't', 0, 'c', 'src', 2, '{\"n\":8}', NULL),"
        " (9, 'old-9', 't', 0, 'c', 'src', 3, '{\"n\":9}', 'file');"
        "INSERT INTO cursors VALUES('file', 7, 0);"
        "PRAGMA user_version = 1;";
    CHECK_EQ_INT(sqlite3_exec(db, version_1, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    struct outbox *ob = open_outbox(path, 0, 1000);
    REQUIRE(ob != NULL);
    CHECK_EQ_INT(outbox_committed_seq(ob), 9);
    struct outbox_reader *reader = outbox_reader_create(ob, "file", err, sizeof err);
    REQUIRE(reader != NULL);
    CHECK_EQ_INT(outbox_reader_cursor(reader), 7);
    CHECK_EQ_INT(append_n(ob, 1, "new", 4), 1);
    CHECK_EQ_INT(outbox_flush(ob, err, sizeof err), OUTBOX_OK);
    struct outbox_record recs[10];
    int n = fetch_all(reader, 7, recs, 10);
    CHECK_EQ_INT(n, 3);
    if (n == 3) {
        CHECK_EQ_STR(recs[0].event->id, "old-8");
        CHECK_EQ_STR(recs[0].event->data, "{\"n\":8}");
        CHECK_EQ_STR(recs[1].event->id, "old-9");
        CHECK_EQ_INT(recs[2].seq, 10);
        CHECK_EQ_STR(recs[2].event->id, "new-0");
    }
    outbox_records_free(recs, n > 0 ? n : 0);
    /* Row 9 was kept for "file" alone; another sink never sees it. */
    struct outbox_reader *other = outbox_reader_create(ob, "other", err, sizeof err);
    REQUIRE(other != NULL);
    n = fetch_all(other, 7, recs, 10);
    CHECK_EQ_INT(n, 2);
    outbox_records_free(recs, n > 0 ? n : 0);
    outbox_reader_destroy(other);
    outbox_reader_destroy(reader);
    outbox_destroy(ob);

    CHECK_EQ_INT(query_int(path, "PRAGMA user_version"), 2);
    CHECK_EQ_INT(count_rows(path), 4);
}

/* The maintenance thread prunes through the writer's connection while the writer keeps
 * appending; its batches follow the append rate, so the table stays small under a
 * sustained load instead of growing until the pause between two rounds. */
static void test_maintenance_keeps_pace_with_the_writer(void)
{
    char path[300], err[512] = "";
    fresh_path(path, sizeof path);
    struct outbox_options opts = {.path = path, .commit_interval_ms = 2,
                                  .commit_max_events = 1000, .maintain_interval_ms = 50};
    struct outbox *ob = outbox_create(&opts, err, sizeof err);
    if (!ob)
        printf("# outbox_create: %s\n", err);
    REQUIRE(ob != NULL);
    struct outbox_reader *reader = outbox_reader_create(ob, "sink", err, sizeof err);
    REQUIRE(reader != NULL);
    int appended = 0;
    int64_t most_rows = 0;
    for (int round = 0; round < 60; round++) {
        appended += append_n(ob, 500, "c", 200);
        CHECK_EQ_INT(outbox_flush(ob, err, sizeof err), OUTBOX_OK);
        outbox_reader_set_cursor(reader, outbox_committed_seq(ob), err, sizeof err);
        usleep(10 * 1000);
        if (round >= 30) {
            int64_t rows = count_rows(path);
            if (rows > most_rows)
                most_rows = rows;
        }
    }
    CHECK_EQ_INT(appended, 30000);
    /* Rows wait for the cursor (written with the writer's next commit, a round later),
     * for the thread's next round (50 ms of appends: 2,500 rows at full speed, more
     * under a sanitizer on a loaded machine) and, in the segment the writer appends to,
     * for the writer to move on (up to OUTBOX_SEGMENT_ROWS). A pruner that fell behind
     * would leave a backlog growing with every round: 15,000 rows by round 30 if it had
     * stopped. */
    printf("# most rows waiting in the second half: %lld\n", (long long)most_rows);
    CHECK_MSG(most_rows > 0 && most_rows < 12000, "rows left behind: %lld",
              (long long)most_rows);
    /* Once appends stop, the last cursor is written and everything goes. */
    CHECK_EQ_INT(outbox_flush(ob, err, sizeof err), OUTBOX_OK);
    int64_t deadline = time_mono_ms() + 5000;
    while (count_rows(path) > 0 && time_mono_ms() < deadline)
        usleep(20 * 1000);
    CHECK_EQ_INT(count_rows(path), 0);
    outbox_reader_destroy(reader);
    outbox_destroy(ob);
}

struct follower {
    struct outbox_reader *reader;
    _Atomic bool stop;
    int64_t fetched;
};

/* A sink runner's reading pattern: fetch a batch after the cursor, move the cursor. */
static void *follow(void *arg)
{
    struct follower *f = arg;
    char err[512];
    struct outbox_record recs[256];
    while (!atomic_load(&f->stop)) {
        int count = 0;
        int64_t cursor = outbox_reader_cursor(f->reader);
        if (outbox_reader_fetch(f->reader, cursor, 256, recs, &count, err, sizeof err) !=
            OUTBOX_OK)
            break;
        if (count > 0) {
            outbox_reader_set_cursor(f->reader, recs[count - 1].seq, err, sizeof err);
            f->fetched += count;
        }
        outbox_records_free(recs, count);
        if (count == 0)
            usleep(200);
    }
    return NULL;
}

/* An outbox with its maintenance thread every 100 ms and a sink "sink" read by follow()
 * on its own thread. NULL if either could not start. */
static struct outbox *open_followed(const char *path, int commit_interval_ms,
                                    int64_t max_bytes, struct follower *follower,
                                    pthread_t *thread)
{
    char err[512] = "";
    struct outbox_options opts = {.path = path, .commit_interval_ms = commit_interval_ms,
                                  .commit_max_events = 1000, .maintain_interval_ms = 100,
                                  .max_bytes = max_bytes};
    struct outbox *ob = outbox_create(&opts, err, sizeof err);
    if (ob)
        follower->reader = outbox_reader_create(ob, "sink", err, sizeof err);
    if (ob && follower->reader && pthread_create(thread, NULL, follow, follower) == 0)
        return ob;
    printf("# starting an outbox and its follower: %s\n", err);
    outbox_reader_destroy(follower->reader);
    outbox_destroy(ob);
    return NULL;
}

/* A writer that never pauses and a reader that always reads: a passive checkpoint cannot
 * catch up, and without the restart checkpoint the WAL grew by every byte written. */
static void test_wal_stays_bounded_under_sustained_writes(void)
{
    char path[300], wal[320], err[512] = "";
    fresh_path(path, sizeof path);
    snprintf(wal, sizeof wal, "%s-wal", path);
    struct follower follower = {0};
    pthread_t thread;
    struct outbox *ob = open_followed(path, 2, 0, &follower, &thread);
    REQUIRE(ob != NULL);
    int appended = 0;
    int64_t largest_wal = 0;
    for (int round = 0; round < 750; round++) {
        appended += append_n(ob, 200, "c", 1000);
        CHECK_EQ_INT(outbox_flush(ob, err, sizeof err), OUTBOX_OK);
        int64_t size = file_size(wal);
        if (size > largest_wal)
            largest_wal = size;
    }
    atomic_store(&follower.stop, true);
    pthread_join(thread, NULL);
    CHECK_EQ_INT(appended, 150000);
    printf("# largest WAL %lld bytes, %llu restarts, follower read %lld events\n",
           (long long)largest_wal, (unsigned long long)outbox_wal_restarts(ob),
           (long long)follower.fetched);
    CHECK_MSG(follower.fetched > 0, "the follower read nothing");
    CHECK_MSG(outbox_wal_restarts(ob) > 0, "no restart checkpoint ran");
    /* 32 MiB starts a checkpoint; what this writer (faster than the relay's, about as
     * fast as SQLite copies) adds while it runs comes on top: 65-90 MB. A WAL that is
     * never started over takes every byte written, 340 MB. */
    CHECK_MSG(largest_wal < 128LL * 1024 * 1024, "the WAL grew to %lld bytes",
              (long long)largest_wal);
    outbox_reader_destroy(follower.reader);
    outbox_destroy(ob);
}

/* The relay's service loop for load_ms: batches of 20 events with data_pad bytes of padding,
 * a commit whenever one falls due, pause_us between batches. Returns the events appended;
 * *refused_batches (may be NULL) counts batches the outbox did not take whole. */
static int append_for(struct outbox *ob, int64_t load_ms, int data_pad, int pause_us,
                      int *refused_batches)
{
    char err[512];
    int appended = 0;
    int64_t load_end = time_mono_ms() + load_ms;
    while (time_mono_ms() < load_end) {
        int n = append_n(ob, 20, "c", data_pad);
        appended += n;
        if (n < 20 && refused_batches)
            (*refused_batches)++;
        CHECK_EQ_INT(outbox_flush_due(ob, time_mono_ms(), err, sizeof err), OUTBOX_OK);
        if (pause_us > 0)
            usleep((useconds_t)pause_us);
    }
    return appended;
}

/* The relay's service loop under full load: a writer that never pauses, committing at the
 * relay's default interval, and a sink right behind it. The pruner must delete as fast as
 * events arrive. It sized its batches by what the writer committed while it waited at most
 * 5 ms for a commit; with a 5 ms commit interval that wait ended just before
 * each commit, every batch was the 100-row minimum, and a benchmark's outbox grew by
 * every event written (650 MB in 10 s), then took minutes to prune once the load
 * stopped. */
static void test_pruning_keeps_up_with_a_busy_writer(void)
{
    char path[300], err[512] = "";
    fresh_path(path, sizeof path);
    struct follower follower = {0};
    pthread_t thread;
    struct outbox *ob = open_followed(path, 5, 0, &follower, &thread);
    REQUIRE(ob != NULL);
    int appended = append_for(ob, 2000, 300, 0, NULL);
    CHECK_EQ_INT(outbox_flush(ob, err, sizeof err), OUTBOX_OK);
    int64_t left_at_end = count_rows(path);
    /* The sink keeps reading; the writer goes on committing its cursor moves. */
    int64_t drain_start = time_mono_ms(), deadline = drain_start + 3000;
    int64_t rows = left_at_end;
    while (rows > 0 && time_mono_ms() < deadline) {
        usleep(5 * 1000);
        CHECK_EQ_INT(outbox_flush_due(ob, time_mono_ms(), err, sizeof err), OUTBOX_OK);
        rows = count_rows(path);
    }
    int64_t drain_ms = time_mono_ms() - drain_start;
    atomic_store(&follower.stop, true);
    pthread_join(thread, NULL);
    printf("# appended %d in 2 s, %lld rows left when the load stopped, all gone %lld ms"
           " later\n", appended, (long long)left_at_end, (long long)drain_ms);
    CHECK_MSG(appended > 20000, "the writer appended only %d events", appended);
    CHECK_MSG(follower.fetched > 0, "the follower read nothing");
    /* The pruner runs every 100 ms and the sink is a fetch behind: a fraction of a second
     * of appends may wait. A pruner that fell behind leaves most of the 2 s. */
    CHECK_MSG(left_at_end >= 0 && left_at_end < appended / 4,
              "%lld of %d events were still stored when the load stopped",
              (long long)left_at_end, appended);
    CHECK_EQ_INT(rows, 0);
    outbox_reader_destroy(follower.reader);
    outbox_destroy(ob);
}

/* A budget smaller than a segment: delivered rows in the segment the writer appends to
 * must go before they reach the high-water mark, though the writer never pauses. */
static void test_small_budget_is_not_filled_by_delivered_rows(void)
{
    char path[300];
    fresh_path(path, sizeof path);
    struct follower follower = {0};
    pthread_t thread;
    const int64_t budget = 2 * 1024 * 1024; /* about 3,500 of these events */
    struct outbox *ob = open_followed(path, 5, budget, &follower, &thread);
    REQUIRE(ob != NULL);
    int refused = 0;
    /* A pause of 1 ms: about the relay's pace, so the follower keeps up. */
    int appended = append_for(ob, 1500, 500, 1000, &refused);
    atomic_store(&follower.stop, true);
    pthread_join(thread, NULL);
    printf("# appended %d events of 560 bytes into a 2 MiB budget; pressure went up %llu"
           " times\n", appended, (unsigned long long)outbox_pressure_episodes(ob));
    CHECK_MSG(appended > OUTBOX_SEGMENT_ROWS, "only %d events appended", appended);
    CHECK_EQ_INT(refused, 0);
    CHECK_EQ_INT((int64_t)outbox_pressure_episodes(ob), 0);
    outbox_reader_destroy(follower.reader);
    outbox_destroy(ob);
}

struct letters {
    int count;
    char sink[32], event_id[32], reason[64];
};

static void collect_letter(void *opaque, const struct outbox_dead_letter *letter)
{
    struct letters *l = opaque;
    l->count++;
    snprintf(l->sink, sizeof l->sink, "%s", letter->sink);
    snprintf(l->event_id, sizeof l->event_id, "%s", letter->event_id);
    snprintf(l->reason, sizeof l->reason, "%s", letter->reason);
}

/* Sinks "hook" and "file" on a fresh outbox holding c-0, c-1 and c-2; the hook posts
 * c-1 as a dead letter (with the alert, if any). NULL if any step failed. */
static struct outbox *with_dead_letter(const char *path, const struct relay_event *alert,
                                       struct outbox_reader **hook,
                                       struct outbox_reader **file)
{
    char err[512];
    struct outbox *ob = open_outbox(path, 0, 5000);
    if (!ob)
        return NULL;
    *hook = outbox_reader_create(ob, "hook", err, sizeof err);
    *file = outbox_reader_create(ob, "file", err, sizeof err);
    struct outbox_record recs[4];
    int n = 0;
    bool posted = *hook && *file && append_n(ob, 3, "c", 0) == 3 &&
                  outbox_flush(ob, err, sizeof err) == OUTBOX_OK &&
                  (n = fetch_all(*hook, 0, recs, 4)) == 3 &&
                  outbox_reader_dead_letter(*hook, recs[1].seq, recs[1].event,
                                            "HTTP 410 Gone", alert, err, sizeof err) ==
                      OUTBOX_OK;
    if (n > 0)
        outbox_records_free(recs, n);
    if (posted)
        return ob;
    printf("# setting up a dead letter: %s\n", err);
    outbox_reader_destroy(*hook);
    outbox_reader_destroy(*file);
    outbox_destroy(ob);
    return NULL;
}

static void test_dead_letters_store_alert_and_replay_to_one_sink(void)
{
    char path[300], err[512];
    fresh_path(path, sizeof path);
    struct relay_event *alert = relay_event_create("dl-1", "cx.outbound.alert.dead_letter", "s",
                                                   "c", 5, EVENT_FAMILY_ALERT,
                                                   "{\"sink\":\"hook\"}");
    struct outbox_reader *hook = NULL, *file = NULL;
    struct outbox *ob = with_dead_letter(path, alert, &hook, &file);
    relay_event_free(alert);
    REQUIRE(ob != NULL);
    struct outbox_record recs[10];
    int n;
    outbox_reader_set_cursor(hook, 3, err, sizeof err);
    CHECK_EQ_INT(outbox_flush_due(ob, time_mono_ms() + 1000, err, sizeof err), OUTBOX_OK);

    struct letters letters = {0};
    CHECK_EQ_INT(outbox_dead_letter_list(ob, collect_letter, &letters, err, sizeof err),
                 OUTBOX_OK);
    CHECK_EQ_INT(letters.count, 1);
    CHECK_EQ_STR(letters.sink, "hook");
    CHECK_EQ_STR(letters.event_id, "c-1");
    CHECK_EQ_STR(letters.reason, "HTTP 410 Gone");
    n = fetch_all(file, 3, recs, 10); /* the alert event followed the three */
    CHECK_EQ_INT(n, 1);
    if (n == 1) {
        CHECK_EQ_STR(recs[0].event->type, "cx.outbound.alert.dead_letter");
        CHECK_EQ_INT(recs[0].event->family, EVENT_FAMILY_ALERT);
    }
    outbox_records_free(recs, n);

    int64_t replayed = -1;
    CHECK_EQ_INT(outbox_dead_letter_replay(ob, "hook", "c-1", &replayed, err, sizeof err),
                 OUTBOX_OK);
    CHECK_EQ_INT(replayed, 1);
    letters.count = 0;
    outbox_dead_letter_list(ob, collect_letter, &letters, err, sizeof err);
    CHECK_EQ_INT(letters.count, 0);
    n = fetch_all(hook, 3, recs, 10);
    CHECK_EQ_INT(n, 2); /* the alert and the replayed event */
    if (n == 2)
        CHECK_EQ_STR(recs[1].event->id, "c-1");
    outbox_records_free(recs, n);
    n = fetch_all(file, 4, recs, 10);
    CHECK_EQ_INT(n, 0); /* the replay is for the hook only */
    outbox_records_free(recs, n);
    outbox_reader_destroy(hook);
    outbox_reader_destroy(file);
    outbox_destroy(ob);
}

/* A replayed dead letter is pruned as soon as its one sink finished it, ahead of the
 * other sinks: it leaves a gap in the seqs, and a batch whose range spans the gap deletes
 * one row fewer than asked without having reached the floor. Pruning must go on. */
static void test_pruning_passes_gaps_left_by_targeted_rows(void)
{
    char path[300], err[512];
    fresh_path(path, sizeof path);
    struct outbox_reader *hook = NULL, *file = NULL;
    struct outbox *ob = with_dead_letter(path, NULL, &hook, &file);
    REQUIRE(ob != NULL);
    CHECK_EQ_INT(outbox_flush(ob, err, sizeof err), OUTBOX_OK);
    int64_t replayed = 0;
    CHECK_EQ_INT(outbox_dead_letter_replay(ob, "hook", "c-1", &replayed, err, sizeof err),
                 OUTBOX_OK);
    CHECK_EQ_INT(replayed, 1);
    int64_t targeted_seq = outbox_committed_seq(ob);
    outbox_reader_set_cursor(hook, targeted_seq, err, sizeof err);
    CHECK_EQ_INT(outbox_flush(ob, err, sizeof err), OUTBOX_OK);
    int64_t pruned = 0;
    CHECK_EQ_INT(outbox_maintain(ob, 0, &pruned, err, sizeof err), OUTBOX_OK);
    CHECK_EQ_INT(pruned, 1); /* the replay only: the file sink has read nothing */

    append_n(ob, 1200, "d", 10);
    CHECK_EQ_INT(outbox_flush(ob, err, sizeof err), OUTBOX_OK);
    int64_t last = outbox_committed_seq(ob);
    int64_t stored = count_rows(path);
    CHECK_EQ_INT(stored, last - 1);
    outbox_reader_set_cursor(hook, last, err, sizeof err);
    outbox_reader_set_cursor(file, last, err, sizeof err);
    CHECK_EQ_INT(outbox_flush(ob, err, sizeof err), OUTBOX_OK);
    /* A bounded call stops at its bound, across the gap too. */
    CHECK_EQ_INT(outbox_maintain(ob, 300, &pruned, err, sizeof err), OUTBOX_OK);
    CHECK_EQ_INT(pruned, 300);
    CHECK_EQ_INT(count_rows(path), stored - 300);
    CHECK_EQ_INT(outbox_maintain(ob, 0, &pruned, err, sizeof err), OUTBOX_OK);
    CHECK_EQ_INT(pruned, stored - 300);
    CHECK_EQ_INT(count_rows(path), 0);
    outbox_reader_destroy(hook);
    outbox_reader_destroy(file);
    outbox_destroy(ob);
}

struct waiter {
    struct outbox *ob;
    int64_t seen;
    int64_t waited_ms;
};

static void *wait_thread(void *arg)
{
    struct waiter *w = arg;
    int64_t start = time_mono_ms();
    w->seen = outbox_wait_committed(w->ob, 0, 5000);
    w->waited_ms = time_mono_ms() - start;
    return NULL;
}

static void test_reader_wakes_on_commit(void)
{
    char path[300], err[512];
    fresh_path(path, sizeof path);
    struct outbox *ob = open_outbox(path, 0, 1000);
    REQUIRE(ob != NULL);
    struct waiter w = {.ob = ob};
    pthread_t thread;
    pthread_create(&thread, NULL, wait_thread, &w);
    usleep(50 * 1000);
    append_n(ob, 2, "c", 0);
    outbox_flush(ob, err, sizeof err);
    pthread_join(thread, NULL);
    CHECK_EQ_INT(w.seen, 2);
    CHECK_MSG(w.waited_ms < 2000, "waited %lld ms", (long long)w.waited_ms);
    outbox_destroy(ob);
}

static int pressure_calls;
static bool pressure_last;

static void on_pressure(void *opaque, bool pressured, int64_t used, int64_t max)
{
    (void)opaque;
    pressure_calls++;
    pressure_last = pressured;
    printf("# pressure %s: %lld of %lld bytes\n", pressured ? "up" : "down", (long long)used,
           (long long)max);
}

static void test_full_refuses_appends_loses_nothing_and_recovers(void)
{
    char path[300], err[512];
    fresh_path(path, sizeof path);
    struct outbox_options opts = {.path = path, .max_bytes = 256 * 1024, .high_water = 0.5,
                                  .commit_max_events = 50, .maintain_interval_ms = -1,
                                  .on_pressure = on_pressure};
    struct outbox *ob = outbox_create(&opts, err, sizeof err);
    REQUIRE(ob != NULL);
    struct outbox_reader *reader = outbox_reader_create(ob, "file", err, sizeof err);
    REQUIRE(reader != NULL);
    int stored = append_n(ob, 10000, "c", 1000);
    CHECK(stored > 50 && stored < 10000);
    char big[1100];
    memset(big, 'x', sizeof big);
    memcpy(big, "{\"p\":\"", 6);
    strcpy(big + sizeof big - 3, "\"}");
    struct relay_event *ev = relay_event_create("one-more", "t", "s", "c", 1,
                                                EVENT_FAMILY_STATE, big);
    int64_t seq = -1;
    CHECK_EQ_INT(outbox_append(ob, ev, NULL, &seq, err, sizeof err), OUTBOX_FULL);
    CHECK_CONTAINS(err, path);
    CHECK_CONTAINS(err, "full");
    CHECK_EQ_INT(outbox_flush(ob, err, sizeof err), OUTBOX_OK);
    CHECK_EQ_INT(outbox_committed_seq(ob), stored);
    CHECK(outbox_pressure(ob));
    CHECK_EQ_INT(pressure_calls, 1);
    CHECK(outbox_full(ob));

    /* Nothing accepted was dropped: every seq 1..stored is there, in order. */
    struct outbox_record *recs = calloc((size_t)stored + 1, sizeof *recs);
    int n = fetch_all(reader, 0, recs, stored + 1);
    CHECK_EQ_INT(n, stored);
    int in_order = 0;
    for (int i = 0; i < n; i++)
        in_order += recs[i].seq == i + 1;
    CHECK_EQ_INT(in_order, stored);
    outbox_records_free(recs, n);
    free(recs);

    outbox_reader_set_cursor(reader, stored, err, sizeof err);
    outbox_flush(ob, err, sizeof err);
    int64_t pruned = 0;
    CHECK_EQ_INT(outbox_maintain(ob, 0, &pruned, err, sizeof err), OUTBOX_OK);
    CHECK_EQ_INT(pruned, stored);
    CHECK(!outbox_full(ob));
    CHECK(!outbox_pressure(ob));
    CHECK_EQ_INT(pressure_calls, 2);
    CHECK(!pressure_last);
    CHECK_EQ_INT(outbox_append(ob, ev, NULL, &seq, err, sizeof err), OUTBOX_OK);
    CHECK_EQ_INT(seq, stored + 1);
    relay_event_free(ev);
    outbox_reader_destroy(reader);
    outbox_destroy(ob);
}

/* A real full disk: the child mounts a 384 KiB tmpfs in its own mount namespace and
 * fills it. Where mounting is not allowed, a file-size limit (RLIMIT_FSIZE) stands in;
 * the kernel then refuses the write with EFBIG, which SQLite reports as an I/O error. */
static void test_disk_full_is_reported_with_the_path(void)
{
    char dir[300], path[340];
    snprintf(dir, sizeof dir, "%s/small-disk", tmpdir);
    REQUIRE(mkdir(dir, 0700) == 0);
    snprintf(path, sizeof path, "%s/outbox.db", dir);
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    fflush(stdout);
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        close(fds[0]);
        bool tmpfs = unshare(CLONE_NEWNS) == 0 &&
                     mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
                     mount("tmpfs", dir, "tmpfs", 0, "size=1024k") == 0;
        if (!tmpfs) {
            signal(SIGXFSZ, SIG_IGN);
            struct rlimit limit = {.rlim_cur = 900 * 1024 + 123, .rlim_max = 900 * 1024 + 123};
            setrlimit(RLIMIT_FSIZE, &limit);
        }
        struct outbox *ob = open_outbox(path, 0, 20);
        char err[512] = "", msg[700];
        struct outbox_reader *reader = ob ? outbox_reader_create(ob, "r", err, sizeof err)
                                          : NULL;
        int status = reader ? OUTBOX_OK : OUTBOX_ERROR;
        for (int count = 0; count < 100000 && status == OUTBOX_OK; count++) {
            struct relay_event *ev = relay_event_create("id", "t", "s", "c", 1,
                                                        EVENT_FAMILY_STATE, "{\"pad\":"
                                                        "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                                        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}");
            status = outbox_append(ob, ev, NULL, NULL, err, sizeof err);
            relay_event_free(ev);
        }
        /* The failed commit's events were staged for the hot window: the reader must
         * get exactly the committed ones, each once, in order. */
        int64_t committed = ob ? outbox_committed_seq(ob) : -1, fetched = 0, last = 0;
        bool in_order = true;
        struct outbox_record recs[500];
        for (int n; reader && (n = fetch_all(reader, last, recs, 500)) > 0;) {
            for (int i = 0; i < n; i++)
                in_order = in_order && recs[i].seq == last + 1 + i;
            last = recs[n - 1].seq;
            fetched += n;
            outbox_records_free(recs, n);
        }
        int len = snprintf(msg, sizeof msg, "%d|%s|committed=%lld fetched=%lld in_order=%d|%s",
                           status, tmpfs ? "tmpfs" : "rlimit", (long long)committed,
                           (long long)fetched, in_order, err);
        if (write(fds[1], msg, (size_t)len) < 0)
            _exit(3);
        outbox_reader_destroy(reader);
        outbox_destroy(ob);
        _exit(0);
    }
    close(fds[1]);
    char msg[700] = "";
    ssize_t got = read(fds[0], msg, sizeof msg - 1);
    close(fds[0]);
    int wstatus = 0;
    waitpid(child, &wstatus, 0);
    REQUIRE(got > 0);
    msg[got] = '\0';
    printf("# child reported: %s\n", msg);
    CHECK_CONTAINS(msg, path);
    long long committed = -1, fetched = -2;
    int in_order = 0;
    const char *figures = strstr(msg, "committed=");
    CHECK(figures && sscanf(figures, "committed=%lld fetched=%lld in_order=%d", &committed,
                            &fetched, &in_order) == 3);
    CHECK(committed > 0);
    CHECK_EQ_INT(fetched, committed);
    CHECK(in_order);
    if (strstr(msg, "|tmpfs|")) {
        CHECK(atoi(msg) == OUTBOX_FULL);
        CHECK_CONTAINS(msg, "disk full");
    } else {
        CHECK(atoi(msg) != OUTBOX_OK);
    }
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

static void test_dlq_cli_lists_and_replays_for_one_sink(void)
{
    char path[300], err[512], args[1200], out[8192];
    fresh_path(path, sizeof path);
    struct outbox *ob = open_outbox(path, 0, 1000);
    REQUIRE(ob != NULL);
    struct outbox_reader *hook = outbox_reader_create(ob, "hook", err, sizeof err);
    struct outbox_reader *file = outbox_reader_create(ob, "file", err, sizeof err);
    REQUIRE(hook && file);
    append_n(ob, 3, "camp", 0);
    outbox_flush(ob, err, sizeof err);
    struct outbox_record recs[10];
    int n = fetch_all(hook, 0, recs, 10);
    REQUIRE(n == 3);
    outbox_reader_dead_letter(hook, 1, recs[0].event, "HTTP 410 Gone", NULL, err, sizeof err);
    outbox_reader_dead_letter(file, 2, recs[1].event, "disk on fire", NULL, err, sizeof err);
    outbox_records_free(recs, n);
    outbox_reader_set_cursor(hook, 3, err, sizeof err);
    outbox_reader_set_cursor(file, 3, err, sizeof err);
    CHECK_EQ_INT(outbox_flush(ob, err, sizeof err), OUTBOX_OK);

    /* The relay keeps running (this process); the CLI is another process. */
    snprintf(args, sizeof args, "dlq list --outbox %s", path);
    CHECK_EQ_INT(run_cli(args, out, sizeof out), 0);
    CHECK_CONTAINS(out, "camp-0");
    CHECK_CONTAINS(out, "HTTP 410 Gone");
    CHECK_CONTAINS(out, "camp-1");
    CHECK_CONTAINS(out, "disk on fire");
    snprintf(args, sizeof args, "dlq replay --outbox %s --sink hook --all", path);
    CHECK_EQ_INT(run_cli(args, out, sizeof out), 0);
    CHECK_CONTAINS(out, "replayed 1 dead letter");
    snprintf(args, sizeof args, "dlq replay --outbox %s --id no-such-event", path);
    CHECK_EQ_INT(run_cli(args, out, sizeof out), 1);
    CHECK_CONTAINS(out, "no matching dead letter");
    snprintf(args, sizeof args, "dlq replay --outbox %s", path);
    CHECK_EQ_INT(run_cli(args, out, sizeof out), 2);

    /* -c reads outbox.path from the configuration. */
    char config[400], cmd[1400];
    snprintf(config, sizeof config, "%s/relay.yaml", tmpdir);
    snprintf(cmd, sizeof cmd, "sed 's|path: ./campaign-relay.db|path: %s|' "
             "config/relay.example.yaml > %s", path, config);
    CHECK_EQ_INT(system(cmd), 0);
    snprintf(args, sizeof args, "dlq list -c %s", config);
    CHECK_EQ_INT(run_cli(args, out, sizeof out), 0);
    CHECK_CONTAINS(out, "disk on fire");
    CHECK(strstr(out, "HTTP 410 Gone") == NULL); /* replayed and removed */

    /* The replayed row is for the hook only; the running relay's readers see it. */
    n = fetch_all(hook, 3, recs, 10);
    CHECK_EQ_INT(n, 1);
    if (n == 1) {
        CHECK_EQ_STR(recs[0].event->id, "camp-0");
        CHECK_EQ_INT(recs[0].seq, 4);
    }
    outbox_records_free(recs, n);
    n = fetch_all(file, 3, recs, 10);
    CHECK_EQ_INT(n, 0);
    outbox_records_free(recs, n);
    /* The writer continues after the row the other process appended. */
    int64_t seq = 0;
    struct relay_event *ev = relay_event_create("next", "t", "s", "c", 1, EVENT_FAMILY_STATE,
                                                "{}");
    CHECK_EQ_INT(outbox_append(ob, ev, NULL, &seq, err, sizeof err), OUTBOX_OK);
    CHECK_EQ_INT(seq, 5);
    relay_event_free(ev);
    outbox_reader_destroy(hook);
    outbox_reader_destroy(file);
    outbox_destroy(ob);
}

/* ---- crash test ---------------------------------------------------------------------- */

static void crash_child(const char *path, int start_n)
{
    char err[512];
    struct outbox_options opts = {.path = path, .commit_max_events = 64,
                                  .commit_interval_ms = 2,
                                  .maintain_interval_ms = 20};
    struct outbox *ob = outbox_create(&opts, err, sizeof err);
    if (!ob)
        _exit(2);
    struct audit_chain *chain = audit_chain_create(ob, err, sizeof err);
    struct outbox_reader *reader = outbox_reader_create(ob, "sink", err, sizeof err);
    if (!chain || !reader)
        _exit(2);
    for (int n = start_n;; n++) {
        char data[64], id[32];
        snprintf(id, sizeof id, "e-%d", n);
        if (n % 3 == 0) {
            cJSON *obj = cJSON_CreateObject();
            cJSON_AddNumberToObject(obj, "n", n);
            cJSON_AddStringToObject(obj, "action", "campaign.start");
            if (audit_chain_append(chain, id, "cx.outbound.audit.action", "s", "c", n, obj,
                                   NULL, err, sizeof err) != OUTBOX_OK)
                _exit(3);
            cJSON_Delete(obj);
        } else {
            snprintf(data, sizeof data, "{\"n\":%d}", n);
            struct relay_event *ev = relay_event_create(id, "cx.outbound.campaign.progress",
                                                        "s", "c", n, EVENT_FAMILY_STATE, data);
            if (outbox_append(ob, ev, NULL, NULL, err, sizeof err) != OUTBOX_OK)
                _exit(3);
            relay_event_free(ev);
        }
        if (n % 50 == 0) {
            int64_t committed = outbox_committed_seq(ob);
            if (committed > 100)
                outbox_reader_set_cursor(reader, committed - 100, err, sizeof err);
        }
        if (outbox_flush_due(ob, time_mono_ms(), err, sizeof err) != OUTBOX_OK)
            _exit(3);
    }
}

struct chain_check {
    int64_t max_seq, rows, gaps, bad_n;
    int audit_events, broken_links;
    char head[AUDIT_HASH_HEX_LEN + 1];
};

static void check_crashed_db(const char *path, struct chain_check *out)
{
    sqlite3 *db = NULL;
    memset(out, 0, sizeof *out);
    snprintf(out->head, sizeof out->head, "%s", AUDIT_GENESIS_HASH);
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return;
    sqlite3_stmt *stmt = NULL;
    sqlite3_prepare_v2(db, "SELECT seq, type, data FROM events ORDER BY seq", -1, &stmt, NULL);
    int64_t prev_seq = -1;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(stmt, 0);
        const char *type = (const char *)sqlite3_column_text(stmt, 1);
        cJSON *data = cJSON_Parse((const char *)sqlite3_column_text(stmt, 2));
        if (prev_seq >= 0 && seq != prev_seq + 1)
            out->gaps++;
        prev_seq = seq;
        out->rows++;
        out->max_seq = seq;
        /* The child's n starts at 1 and every append got the next seq. */
        cJSON *n = cJSON_GetObjectItemCaseSensitive(data, "n");
        if (!cJSON_IsNumber(n) || (int64_t)n->valuedouble != seq)
            out->bad_n++;
        if (strstr(type, "audit.")) {
            out->audit_events++;
            const char *prev = cJSON_GetStringValue(cJSON_GetObjectItem(data, "prevHash"));
            /* Pruning removes old audit events: the first one left starts the walk. */
            if (out->audit_events == 1 && prev)
                snprintf(out->head, sizeof out->head, "%s", prev);
            if (audit_check_link(data, NULL, 0) != AUDIT_LINK_OK || !prev ||
                strcmp(prev, out->head) != 0)
                out->broken_links++;
            const char *hash = cJSON_GetStringValue(cJSON_GetObjectItem(data, "hash"));
            snprintf(out->head, sizeof out->head, "%s", hash ? hash : "");
        }
        cJSON_Delete(data);
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
}

static void test_kill9_at_random_points_loses_no_committed_event(void)
{
    char path[300], err[512];
    fresh_path(path, sizeof path);
    srand((unsigned)time_mono_us());
    int64_t last_max = 0;
    for (int round = 0; round < 4; round++) {
        fflush(stdout);
        pid_t child = fork();
        REQUIRE(child >= 0);
        if (child == 0)
            crash_child(path, (int)last_max + 1);
        usleep((useconds_t)(100 + rand() % 300) * 1000);
        kill(child, SIGKILL);
        int wstatus = 0;
        waitpid(child, &wstatus, 0);
        CHECK(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL);

        /* Reopen as the relay would: seqs continue, cursor and audit head consistent. */
        struct outbox *ob = open_outbox(path, 0, 1000);
        REQUIRE(ob != NULL);
        struct audit_chain *chain = audit_chain_create(ob, err, sizeof err);
        REQUIRE(chain != NULL);
        int64_t cursor = -1;
        CHECK_EQ_INT(outbox_sink_cursor(ob, "sink", &cursor, err, sizeof err), OUTBOX_OK);
        int64_t committed = outbox_committed_seq(ob);
        char head[AUDIT_HASH_HEX_LEN + 1];
        snprintf(head, sizeof head, "%s", audit_chain_head(chain));
        audit_chain_destroy(chain);
        outbox_destroy(ob);

        struct chain_check check;
        check_crashed_db(path, &check);
        printf("# round %d: %lld events committed (max seq %lld), cursor %lld, %d audit\n",
               round, (long long)check.rows, (long long)check.max_seq, (long long)cursor,
               check.audit_events);
        CHECK(check.max_seq > last_max); /* the child made progress in this round */
        CHECK_EQ_INT(check.max_seq, committed);
        CHECK_EQ_INT(check.gaps, 0);
        CHECK_EQ_INT(check.bad_n, 0);
        CHECK_EQ_INT(check.broken_links, 0);
        CHECK(cursor >= 0 && cursor <= check.max_seq);
        /* The stored head is the hash of the last audit event that committed. */
        if (check.audit_events > 0)
            CHECK_EQ_STR(head, check.head);
        last_max = check.max_seq;
    }
}

int main(void)
{
    log_set_level(LOG_ERROR);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_outbox.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_only_committed_events_are_visible);
    RUN(test_page_size_of_new_and_existing_outboxes);
    RUN(test_group_commit_by_count_and_interval);
    RUN(test_cursor_survives_restart_and_replays_same_ids);
    RUN(test_snapshot_and_meta_commit_with_events);
    RUN(test_pruning_never_reuses_seqs);
    RUN(test_pruning_does_not_rewrite_freed_pages);
    RUN(test_finished_segments_are_emptied_whole);
    RUN(test_bounded_prune_counts_emptied_segments);
    RUN(test_no_statement_scans_the_backlog);
    RUN(test_readers_close_behind_read_from_memory);
    RUN(test_reader_far_behind_reads_from_disk_then_memory);
    RUN(test_reader_rewinding_gets_every_record_again);
    RUN(test_window_skips_seqs_another_writer_took);
    RUN(test_single_table_outbox_is_upgraded);
    RUN(test_maintenance_keeps_pace_with_the_writer);
    RUN(test_wal_stays_bounded_under_sustained_writes);
    RUN(test_pruning_keeps_up_with_a_busy_writer);
    RUN(test_small_budget_is_not_filled_by_delivered_rows);
    RUN(test_dead_letters_store_alert_and_replay_to_one_sink);
    RUN(test_pruning_passes_gaps_left_by_targeted_rows);
    RUN(test_reader_wakes_on_commit);
    RUN(test_dlq_cli_lists_and_replays_for_one_sink);
    RUN(test_full_refuses_appends_loses_nothing_and_recovers);
    RUN(test_disk_full_is_reported_with_the_path);
    RUN(test_kill9_at_random_points_loses_no_committed_event);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", tmpdir);
    return harness_finish();
}
