/*
 * The durable outbox: an SQLite database (WAL mode) between the campaign cache and
 * every sink. It holds the events, one cursor per sink, the dead letters, the campaign
 * snapshot and small metadata (the audit chain head).
 *
 * Contract:
 *  - One writer thread (the relay's service loop) calls the writer functions
 *    (outbox_append, outbox_snapshot_*, outbox_meta_set, outbox_flush*). Writes go
 *    into one open transaction that commits when commit_max_events events are
 *    pending, when outbox_flush_due() sees commit_interval_ms passed since the first
 *    pending write, or on outbox_flush(). Snapshot rows, metadata and events written
 *    between two commits commit together or not at all.
 *  - Sinks only ever see committed events: each reader (one per sink runner thread)
 *    has its own connection. Sequence numbers are assigned in append order, are dense
 *    over committed events and are never reused once committed.
 *  - The events this process committed last stay in memory (the hot window, up to
 *    OUTBOX_HOT_EVENTS and OUTBOX_HOT_BYTES) until every live reader has fetched them:
 *    a reader close behind the writer is answered from there, one further behind from
 *    its connection, with the same records either way. outbox_append keeps a shared
 *    reference to a heap event (relay_event_share), so the caller must not change the
 *    event after appending it; it may free it as usual.
 *  - A sink's cursor is the highest seq it has finished; it only moves through
 *    outbox_reader_set_cursor(). Cursor moves and dead letters posted by readers are
 *    written by the writer's next commit, so SQLite has a single writer on the hot
 *    path and sink threads never wait for its write lock; a dead letter always
 *    commits no later than the cursor that passes it. After a restart everything
 *    after the stored cursor is read again, with the same event ids.
 *  - Events every registered sink has finished are pruned by outbox_maintain() (run by
 *    an internal thread unless disabled), which also checkpoints the WAL and re-measures
 *    the disk use. Events are stored in segments of OUTBOX_SEGMENT_ROWS (more while a
 *    sink is behind); a segment every sink has finished is emptied whole. While the
 *    writer keeps appending, the internal thread leaves the segment it appends to for
 *    later, so up to about two segments of finished events stay stored under load.
 *  - Disk use (live database pages) is bounded by max_bytes. At high_water * max_bytes
 *    the pressure flag is raised; at max_bytes appends are refused with OUTBOX_FULL
 *    and nothing already stored is dropped. A full disk (SQLITE_FULL) is reported the
 *    same way. When a failed commit makes SQLite roll the open transaction back, the
 *    pending writes are lost (they were never visible to any sink) and
 *    outbox_rollback_count() increases so cached state derived from them (the audit
 *    head) can be reloaded; the relay then reconciles.
 *  - Errors come back as an OUTBOX_* code plus a message in errstr naming the path.
 */
#ifndef CRELAY_PUBLISHERS_OUTBOX_H
#define CRELAY_PUBLISHERS_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "publishers/event.h"

enum outbox_status {
    OUTBOX_OK = 0,
    OUTBOX_ERROR = -1, /* SQLite or I/O error; errstr says which */
    OUTBOX_FULL = -2,  /* max_bytes reached or the disk is full; retry after pruning */
};

/* Called when the pressure flag changes, from the writer thread or the maintenance
 * thread; keep it short (post to the loop). */
typedef void (*outbox_pressure_fn)(void *opaque, bool pressured, int64_t used_bytes,
                                   int64_t max_bytes);

struct outbox_options {
    const char *path;
    int64_t max_bytes;          /* 0: unbounded */
    double high_water;          /* fraction of max_bytes; 0 means 0.8 */
    int64_t commit_interval_ms; /* 0 means 10 */
    int commit_max_events;      /* 0 means 1000 */
    bool synchronous_full;      /* false: synchronous=NORMAL (see docs/outbox.md) */
    int64_t maintain_interval_ms; /* 0 means 500; < 0: no internal maintenance thread */
    outbox_pressure_fn on_pressure;
    void *pressure_opaque;
};

/* Events live in OUTBOX_SEGMENTS tables, filled in turn to OUTBOX_SEGMENT_ROWS rows each
 * (docs/outbox.md). */
#define OUTBOX_SEGMENTS 4
#define OUTBOX_SEGMENT_ROWS 4096
/* The hot window: the last events this process committed, kept in memory while some
 * reader has still to fetch them, up to this many events and bytes. */
#define OUTBOX_HOT_EVENTS 8192
#define OUTBOX_HOT_BYTES (4 * 1024 * 1024)

struct outbox;
struct outbox_reader;

/* Opens (creating if needed) the database and loads the last sequence number. */
struct outbox *outbox_create(const struct outbox_options *options, char *errstr,
                             size_t errstr_size);
/* Commits what is pending (errors are logged), stops maintenance, closes. */
void outbox_destroy(struct outbox *ob);
const char *outbox_path(const struct outbox *ob);

/* ---- writer side (one thread) ---------------------------------------------- */

/* Appends an event into the open transaction. target_sink NULL: every sink;
 * otherwise only that sink's runner reads it (dead-letter replays). *seq_out (may be
 * NULL) receives the new sequence number. OUTBOX_FULL leaves nothing changed. */
int outbox_append(struct outbox *ob, const struct relay_event *event, const char *target_sink,
                  int64_t *seq_out, char *errstr, size_t errstr_size);
/* Upserts (json != NULL) or deletes (json == NULL) one snapshot row. */
int outbox_snapshot_put(struct outbox *ob, const char *key, const char *json, char *errstr,
                        size_t errstr_size);
/* Calls fn for every snapshot row (committed or pending), in key order. */
int outbox_snapshot_load(struct outbox *ob,
                         void (*fn)(void *opaque, const char *key, const char *json),
                         void *opaque, char *errstr, size_t errstr_size);
int outbox_meta_set(struct outbox *ob, const char *key, const char *value, char *errstr,
                    size_t errstr_size);
/* Like outbox_meta_set, but the row is written only when the transaction commits (the
 * last value staged for a key wins; a rollback drops it). For values that change with
 * every event, such as the audit head: one write per commit instead of one per event. */
int outbox_meta_stage(struct outbox *ob, const char *key, const char *value, char *errstr,
                      size_t errstr_size);
/* *value_out: heap copy (caller frees) or NULL when the key is absent. Sees pending
 * and staged writes of the writer. */
int outbox_meta_get(struct outbox *ob, const char *key, char **value_out, char *errstr,
                    size_t errstr_size);

/* Commits when the batch is due; call it from a timer every few ms. Also writes the
 * cursors and dead letters (with their alert events) that readers posted. */
int outbox_flush_due(struct outbox *ob, int64_t now_mono_ms, char *errstr, size_t errstr_size);
/* Milliseconds until outbox_flush_due() will commit the open transaction (0: due now),
 * or -1 when no transaction is open. Lets the loop wake exactly when a batch is due
 * instead of on its next timer tick. */
int64_t outbox_commit_due_in_ms(const struct outbox *ob, int64_t now_mono_ms);
/* Commits now whatever is pending. */
int outbox_flush(struct outbox *ob, char *errstr, size_t errstr_size);
/* Writes (events, snapshot rows, metadata) in the open transaction. */
int outbox_pending(const struct outbox *ob);
/* True while appends would be refused with OUTBOX_FULL. */
bool outbox_full(const struct outbox *ob);
/* Number of transactions SQLite rolled back after a failed write. */
uint64_t outbox_rollback_count(const struct outbox *ob);
/* Restart checkpoints the maintenance thread ran because the WAL outgrew a passive one. */
uint64_t outbox_wal_restarts(const struct outbox *ob);
/* Size of the write-ahead log file (0 when there is none). It is reused, not shrunk, after
 * a restart, and stays near OUTBOX_JOURNAL_LIMIT under any steady load. */
int64_t outbox_wal_bytes(const struct outbox *ob);
/* Rows SQLite stepped through in full table scans by the statements the outbox keeps
 * prepared on the writer's connection (appends, rotation, cursors, pruning). Each finds
 * its rows through a b-tree, so this stays 0: a scan there would cost in proportion to
 * the backlog on every append or pruning round. For tests and diagnostics; not while
 * the maintenance thread runs. */
uint64_t outbox_full_scan_rows(const struct outbox *ob);

/* ---- shared, any thread ----------------------------------------------------- */

int64_t outbox_committed_seq(const struct outbox *ob); /* highest committed seq, 0 if none */
bool outbox_pressure(const struct outbox *ob);
uint64_t outbox_pressure_episodes(const struct outbox *ob); /* times the flag went up */
int64_t outbox_used_bytes(const struct outbox *ob);
/* Blocks until an event after after_seq commits or timeout_ms passes; returns the
 * highest committed seq known to this process. */
int64_t outbox_wait_committed(struct outbox *ob, int64_t after_seq, int timeout_ms);

/* Prunes events every registered sink finished (at most max_rows; <= 0: all),
 * checkpoints the WAL and re-measures the disk use. *pruned_out may be NULL. */
int outbox_maintain(struct outbox *ob, int max_rows, int64_t *pruned_out, char *errstr,
                    size_t errstr_size);
/* The stored cursor of a sink; OUTBOX_ERROR when the sink is not registered. */
int outbox_sink_cursor(struct outbox *ob, const char *sink, int64_t *cursor_out, char *errstr,
                       size_t errstr_size);
/* Forgets a sink that left the configuration so it no longer holds back pruning. */
int outbox_unregister_sink(struct outbox *ob, const char *sink, char *errstr,
                           size_t errstr_size);

/* ---- dead letters ------------------------------------------------------------ */

struct outbox_dead_letter {
    int64_t id;
    const char *sink;
    int64_t seq; /* the outbox seq the event had when it died */
    const char *event_id;
    const char *type;
    const char *subject;
    const char *reason;
    int64_t dead_at_ms; /* wall clock */
};

int outbox_dead_letter_list(struct outbox *ob,
                            void (*fn)(void *opaque, const struct outbox_dead_letter *letter),
                            void *opaque, char *errstr, size_t errstr_size);
/* Re-queues dead letters as new events targeted at their sink and deletes them, in one
 * transaction. sink NULL: every sink; event_id NULL: all of them. Writer thread (or a
 * separate process: the running relay picks the new rows up). */
int outbox_dead_letter_replay(struct outbox *ob, const char *sink, const char *event_id,
                              int64_t *replayed_out, char *errstr, size_t errstr_size);

/* ---- readers (one per sink runner thread) ------------------------------------ */

struct outbox_record {
    int64_t seq;
    struct relay_event *event;
};

/* Opens a reader connection and registers the sink (new sinks start at cursor 0). */
struct outbox_reader *outbox_reader_create(struct outbox *ob, const char *sink, char *errstr,
                                           size_t errstr_size);
void outbox_reader_destroy(struct outbox_reader *reader);
const char *outbox_reader_sink(const struct outbox_reader *reader);
int64_t outbox_reader_cursor(const struct outbox_reader *reader);
/* Reads up to max committed records with seq > after_seq that are for this sink, in
 * seq order, into records[]; *count_out gets how many. Free them with
 * outbox_records_free(). */
int outbox_reader_fetch(struct outbox_reader *reader, int64_t after_seq, int max,
                        struct outbox_record *records, int *count_out, char *errstr,
                        size_t errstr_size);
void outbox_records_free(struct outbox_record *records, int count);
/* Rows the reader's fetches took from the hot window, and rows they read from the
 * database: a reader takes from memory while it keeps within the window of the writer,
 * from the database when further behind. Any thread. */
uint64_t outbox_reader_rows_from_memory(const struct outbox_reader *reader);
uint64_t outbox_reader_rows_from_disk(const struct outbox_reader *reader);
/* Rows the reader's fetch stepped through in full table scans: 0, as for the writer's
 * statements (outbox_full_scan_rows). */
uint64_t outbox_reader_full_scan_rows(const struct outbox_reader *reader);
/* Posts the cursor (it never moves backwards); the writer's next commit stores it. */
int outbox_reader_set_cursor(struct outbox_reader *reader, int64_t seq, char *errstr,
                             size_t errstr_size);
/* Queues a dead letter and the alert event announcing it; the writer's next commit
 * stores both (ahead of any cursor posted afterwards). Copies what it keeps. */
int outbox_reader_dead_letter(struct outbox_reader *reader, int64_t seq,
                              const struct relay_event *event, const char *reason,
                              const struct relay_event *alert, char *errstr,
                              size_t errstr_size);

#endif
