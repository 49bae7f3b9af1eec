#include "publishers/outbox.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "util/log.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#define OUTBOX_SCHEMA_VERSION 2
#define OUTBOX_BUSY_TIMEOUT_MS 30000
/* Rows deleted per pruning transaction. The writer waits for each one, and a row costs
 * SQLite a few microseconds, so the maintenance thread sizes a batch by two measures and
 * takes the larger: what it can delete in PRUNE_BATCH_TARGET_US (timed on the batches
 * before), and twice what the writer committed in its turn since the last batch, so
 * pruning gains on any append rate. Between batches it stands aside only when the writer
 * is waiting for the lock, and then until the writer holds it, not for a fixed time: a
 * fixed wait as long as the commit interval ended just before most commits, every batch
 * was the minimum, and under full load the outbox kept every event (650 MB in a 10 s
 * benchmark) until the load stopped. Pruning outside the thread (outbox_maintain) takes
 * fixed batches. */
#define OUTBOX_PRUNE_BATCH 500
#define PRUNE_MIN_BATCH 100
#define PRUNE_MAX_BATCH 5000
#define PRUNE_BATCH_TARGET_US 500
/* How long the pruner waits for a writer that asked for the lock to take it. */
#define PRUNE_TURN_WAIT_MS 50
#define OUTBOX_JOURNAL_LIMIT (64 * 1024 * 1024)
/* WAL size at which a commit wakes the maintenance thread to checkpoint. A passive
 * checkpoint never catches up with a writer that commits every few milliseconds, and
 * SQLite starts the WAL over only after one has: under sustained load the WAL grew
 * without end (1 GB in a 10 s benchmark), every commit extended the file (the kernel
 * zeroes each new block) and the disk would fill. The maintenance thread therefore copies
 * most of the WAL beside the writer, then holds the writer for a restart checkpoint of
 * the remainder. Half of OUTBOX_JOURNAL_LIMIT, so the file is reused, not truncated and
 * extended again. */
#define OUTBOX_WAL_CHECKPOINT_BYTES (32 * 1024 * 1024)
/* The page size of a new outbox. Every event passes through SQLite's pages three times
 * (the WAL write, the checkpoint's read and write, the readers' and the pruner's reads),
 * each page one system call: at 4 KiB (SQLite's default) the relay made about 95,000 a
 * second under full load. 16 KiB pages cost 5-12 % less relay CPU per notification
 * (docs/benchmarks.md); 64 KiB cost more than 4 KiB (a commit rewrites its last,
 * partly filled page in full). A database keeps the page size it was created with. */
#define OUTBOX_PAGE_SIZE 16384
/* Below this max_bytes a new outbox keeps 4 KiB pages: an empty database is one page per
 * table and index, which at 16 KiB would take a good part of a small budget. */
#define OUTBOX_LARGE_PAGE_MIN_BUDGET (16 * 1024 * 1024)
/* How long the restart checkpoint waits, with the writer held, for readers still on an
 * older snapshot; a reader's fetch takes well under a millisecond. */
#define OUTBOX_RESTART_WAIT_MS 20
/* Passive passes before the restart pass, and the frames copied by a pass at which they
 * stop. A pass copies what was committed while the one before ran (its counts are taken
 * as it starts), so the frames a pass copies show what the restart pass would; they stop
 * early too when a pass did not halve that. SQLite copies about 320 KiB a millisecond
 * here. */
#define CHECKPOINT_PASSIVE_PASSES 6
#define CHECKPOINT_HELD_BYTES (256 * 1024)
/* Rough per-row overhead of an event in the b-tree, used to foresee the size of a batch
 * that has not committed yet. */
#define OUTBOX_ROW_OVERHEAD 48

/* Events are kept in OUTBOX_SEGMENTS tables used in turn. The writer appends to one
 * until it holds OUTBOX_SEGMENT_ROWS rows and the next one is empty, then moves on; a table
 * whose every row every sink has finished is emptied in one statement. Deleting rows one
 * by one made SQLite move the rows left on each page into its neighbours (a b-tree keeps
 * its pages at least a third full), so pruning rewrote most pages the writer had written:
 * 10,000 events of 540 bytes in 16 KiB pages, 7.3 MB of WAL; emptying the table wrote
 * 66 KB. The view `events` shows them as one table, in seq order when asked. */
#define EVENT_COLUMNS                                                                      \
    "(seq INTEGER PRIMARY KEY, id TEXT NOT NULL, type TEXT NOT NULL,"                      \
    " family INTEGER NOT NULL, subject TEXT NOT NULL, source TEXT NOT NULL,"               \
    " time_ms INTEGER NOT NULL, data TEXT NOT NULL, target TEXT);"
#define EVENT_SEGMENT(k)                                                                   \
    "CREATE TABLE IF NOT EXISTS events_" #k EVENT_COLUMNS                                  \
    "CREATE INDEX IF NOT EXISTS events_" #k "_target ON events_" #k "(target)"             \
    " WHERE target IS NOT NULL;"

static const char schema_sql[] =
    EVENT_SEGMENT(0) EVENT_SEGMENT(1) EVENT_SEGMENT(2) EVENT_SEGMENT(3)
    "CREATE VIEW IF NOT EXISTS events AS SELECT * FROM events_0 UNION ALL"
    " SELECT * FROM events_1 UNION ALL SELECT * FROM events_2 UNION ALL"
    " SELECT * FROM events_3;"
    "CREATE TABLE IF NOT EXISTS cursors("
    " sink TEXT PRIMARY KEY, seq INTEGER NOT NULL, updated_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS dead_letters("
    " id INTEGER PRIMARY KEY, sink TEXT NOT NULL, seq INTEGER NOT NULL,"
    " event_id TEXT NOT NULL, type TEXT NOT NULL, family INTEGER NOT NULL,"
    " subject TEXT NOT NULL, source TEXT NOT NULL, time_ms INTEGER NOT NULL,"
    " data TEXT NOT NULL, reason TEXT NOT NULL, dead_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS snapshot(key TEXT PRIMARY KEY, json TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);";

/* A dead letter posted by a reader, waiting for the writer's next commit. */
struct dead_letter_item {
    struct dead_letter_item *next;
    char *sink;
    int64_t seq;
    struct relay_event *event;
    char *reason;
    struct relay_event *alert;
    int64_t dead_ms;
};

/* One per sink: the cursor its runner posted and the one the database holds. */
struct cursor_slot {
    char *sink;
    int64_t posted;
    int64_t written; /* committed */
    int64_t writing; /* in the open transaction */
};

/* Pages that hold rows: the file less its free pages. */
#define LIVE_PAGES_SQL                                                                     \
    "SELECT (SELECT page_count FROM pragma_page_count())"                                  \
    " - (SELECT freelist_count FROM pragma_freelist_count())"

enum writer_stmt {
    WS_BEGIN, WS_COMMIT, WS_ROLLBACK, WS_MAX_SEQ, WS_GET_META, WS_PUT_META,
    WS_PUT_SNAPSHOT, WS_DEL_SNAPSHOT, WS_SET_CURSOR,
    WS_INSERT_DEAD, WS_LIVE_PAGES, WS_COUNT
};

static const char *const writer_sql[WS_COUNT] = {
    [WS_BEGIN] = "BEGIN IMMEDIATE",
    [WS_COMMIT] = "COMMIT",
    [WS_ROLLBACK] = "ROLLBACK",
    [WS_MAX_SEQ] = "SELECT MAX(COALESCE((SELECT MAX(seq) FROM events_0), 0),"
                   " COALESCE((SELECT MAX(seq) FROM events_1), 0),"
                   " COALESCE((SELECT MAX(seq) FROM events_2), 0),"
                   " COALESCE((SELECT MAX(seq) FROM events_3), 0),"
                   " COALESCE((SELECT CAST(value AS INTEGER) FROM meta"
                   "  WHERE key = 'last_seq'), 0))",
    [WS_GET_META] = "SELECT value FROM meta WHERE key = ?1",
    [WS_PUT_META] = "INSERT INTO meta(key, value) VALUES(?1, ?2)"
                    " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [WS_PUT_SNAPSHOT] = "INSERT INTO snapshot(key, json) VALUES(?1, ?2)"
                        " ON CONFLICT(key) DO UPDATE SET json = excluded.json",
    [WS_DEL_SNAPSHOT] = "DELETE FROM snapshot WHERE key = ?1",
    [WS_SET_CURSOR] = "INSERT INTO cursors(sink, seq, updated_ms) VALUES(?1, ?2, ?3)"
                      " ON CONFLICT(sink) DO UPDATE SET seq = excluded.seq,"
                      " updated_ms = excluded.updated_ms WHERE excluded.seq > cursors.seq",
    [WS_INSERT_DEAD] = "INSERT INTO dead_letters(sink, seq, event_id, type, family, subject,"
                       " source, time_ms, data, reason, dead_ms)"
                       " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [WS_LIVE_PAGES] = LIVE_PAGES_SQL,
};

/* Statements on one segment's table, prepared once per segment on the writer's connection:
 * the writer appends and rotates with them, pruning (under the write lock) the rest. "%d"
 * stands for the segment number. */
enum segment_stmt {
    SEG_INSERT, SEG_ROWS, SEG_NEWEST, SEG_OLDEST, SEG_EMPTY, SEG_DELETE_UPTO,
    SEG_DELETE_TARGETED, SEG_STMT_COUNT
};

static const char *const segment_sql[SEG_STMT_COUNT] = {
    [SEG_INSERT] = "INSERT INTO events_%d(seq, id, type, family, subject, source, time_ms,"
                   " data, target) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    /* An estimate, never below the count: seqs are unique. Each bound is its own
     * subquery because SQLite finds a lone MIN() or MAX() from the rowid's b-tree in a
     * few pages, but scans the whole table for an expression of both. */
    [SEG_ROWS] = "SELECT COALESCE((SELECT MAX(seq) FROM events_%d)"
                 " - (SELECT MIN(seq) FROM events_%d) + 1, 0)",
    [SEG_NEWEST] = "SELECT COALESCE(MAX(seq), -1) FROM events_%d",
    [SEG_OLDEST] = "SELECT COALESCE(MIN(seq), -1) FROM events_%d",
    /* Without a WHERE clause SQLite frees the table's pages as they are, without visiting
     * its rows one by one. */
    [SEG_EMPTY] = "DELETE FROM events_%d",
    [SEG_DELETE_UPTO] = "DELETE FROM events_%d WHERE seq <= ?1",
    [SEG_DELETE_TARGETED] =
        "DELETE FROM events_%d WHERE seq IN (SELECT seq FROM events_%d"
        " WHERE target IS NOT NULL AND seq > ?1 AND seq <= COALESCE("
        " (SELECT c.seq FROM cursors c WHERE c.sink = events_%d.target), ?1)"
        " ORDER BY seq LIMIT ?2)",
};

/* The events this process committed last stay in memory (the "hot window") for the
 * readers that follow the writer closely: such a reader takes them from there instead
 * of reading them back through SQLite, which at full load was half of a sink thread
 * (a fresh read transaction after every commit drops the reader's page cache, so each
 * fetch re-read its pages from the WAL). The window keeps what some live reader has not
 * fetched yet, up to these bounds; a reader further behind reads from the database. */
_Static_assert((OUTBOX_HOT_EVENTS & (OUTBOX_HOT_EVENTS - 1)) == 0,
               "the hot window's ring is indexed by masking");

struct hot_entry {
    int64_t seq;
    struct relay_event *event; /* shared: one owner */
    char *target;              /* NULL: for every sink */
    int64_t bytes;
};

/* A metadata write held back until the commit (the audit head changes with every audit
 * event; writing it once per transaction is enough). Entries are kept and reused. */
#define STAGED_META_MAX 4
struct staged_meta {
    char *key;
    struct strbuf value;
    bool live;
};

struct outbox {
    char *path;
    int64_t max_bytes;
    double high_water;
    int64_t commit_interval_ms;
    int commit_max_events;
    int64_t page_size;
    int wal_checkpoint_frames; /* OUTBOX_WAL_CHECKPOINT_BYTES in pages */
    int checkpoint_held_frames; /* CHECKPOINT_HELD_BYTES in pages */
    outbox_pressure_fn on_pressure;
    void *pressure_opaque;

    /* Writer state: only the writer thread touches these. */
    sqlite3 *db;
    sqlite3_stmt *ws[WS_COUNT];
    sqlite3_stmt *segment_stmts[OUTBOX_SEGMENTS][SEG_STMT_COUNT];
    int64_t segment_rows;                   /* in the segment appended to */
    int64_t next_rotation_check;            /* segment_rows at which to look again */
    bool in_txn;
    int pending;
    int pending_events;
    int64_t pending_bytes;
    int64_t first_pending_ms;
    int64_t next_seq;
    struct dead_letter_item *dead_in_txn;
    struct staged_meta staged[STAGED_META_MAX];

    /* Shared state, under mu. */
    pthread_mutex_t mu;
    pthread_cond_t committed_cond;
    pthread_cond_t writer_cond;
    pthread_cond_t writer_turn_cond; /* the writer took the lock it was waiting for */
    int64_t committed_seq;
    bool writer_holds_lock;
    bool writer_wants_lock;
    pthread_t writer_thread;
    bool aux_waiting; /* an auxiliary write wants the write lock: the writer yields */
    struct dead_letter_item *dead_queue;
    struct dead_letter_item **dead_queue_tail;
    struct cursor_slot *slots;
    size_t slot_count;
    bool posted_work;

    /* Serializes SQLite writes of this process: the writer holds it for the length of
     * its transaction; auxiliary writes (pruning, registration) take it between. */
    pthread_mutex_t write_lock;

    /* Auxiliary connection for pruning and registration, under aux_mu. */
    pthread_mutex_t aux_mu;
    sqlite3 *aux_db;
    /* Query connection for reads from any thread, under query_mu. */
    pthread_mutex_t query_mu;
    sqlite3 *query_db;

    _Atomic int64_t used_bytes;
    _Atomic bool full;
    _Atomic bool pressure;
    _Atomic uint64_t pressure_episodes;
    _Atomic uint64_t rollbacks;

    pthread_t maintain_thread;
    bool maintain_started;
    bool maintain_stop; /* under mu */
    pthread_cond_t maintain_cond;
    int64_t maintain_interval_ms;
    _Atomic bool checkpoint_wanted;
    _Atomic int64_t restart_retry_ms; /* after a restart checkpoint found readers busy */
    _Atomic uint64_t wal_restarts;
    int prune_rows_per_target; /* maintenance thread only */
    int64_t committed_at_last_round; /* maintenance thread only */
    /* The segment the writer appends to; changed by the writer inside its transaction,
     * read by pruning under write_lock. */
    _Atomic int current_segment;

    /* The hot window: a ring of OUTBOX_HOT_EVENTS entries holding the consecutive seqs
     * hot_first_seq .. hot_first_seq + hot_count - 1, all committed; and the readers
     * whose progress decides what it may drop. Under hot_mu. */
    pthread_mutex_t hot_mu;
    struct hot_entry *hot;
    size_t hot_head, hot_count;
    int64_t hot_first_seq; /* with no entries, the seq the next one must have */
    int64_t hot_bytes;
    struct outbox_reader **hot_readers;
    size_t hot_reader_count;
    /* Writer only: the open transaction's events, published to the window at commit. */
    struct hot_entry *hot_pending;
    size_t hot_pending_count, hot_pending_cap;
};

struct outbox_reader {
    struct outbox *ob;
    char *sink;
    size_t slot;
    sqlite3 *db;
    sqlite3_stmt *fetch;
    int64_t cursor;
    /* Under ob->hot_mu: the highest seq the reader has looked at, which lets the window
     * drop what every reader is past; and where its last fetch ended: the last record
     * it was given and the last seq it looked at (records between were for other
     * sinks), so a fetch after that record can resume past them. */
    int64_t hot_fetched, hot_returned, hot_scanned;
    /* Written by the reader's thread, read by any (metrics). */
    _Atomic uint64_t rows_from_memory, rows_from_disk;
};

/* Formats an SQLite failure; a full disk maps to OUTBOX_FULL. */
static int sql_error(const struct outbox *ob, sqlite3 *db, int rc, const char *what,
                     char *errstr, size_t errstr_size)
{
    int primary = rc & 0xff;
    int sys_errno = db ? sqlite3_system_errno(db) : 0;
    /* Out-of-space can surface as an I/O error (a write refused outright rather than cut
     * short, or a file-size limit); it is the same condition for the relay. */
    if (primary == SQLITE_FULL ||
        (primary == SQLITE_IOERR &&
         (sys_errno == ENOSPC || sys_errno == EFBIG || sys_errno == EDQUOT))) {
        errstr_set(errstr, errstr_size, "outbox %s: %s: disk full (%s)", ob->path, what,
                  sys_errno ? strerror(sys_errno) : sqlite3_errstr(rc));
        return OUTBOX_FULL;
    }
    errstr_set(errstr, errstr_size, "outbox %s: %s: %s (SQLite code %d)", ob->path, what,
              db ? sqlite3_errmsg(db) : sqlite3_errstr(rc), rc);
    return OUTBOX_ERROR;
}

/* SQLite keeps memory statistics by default, under one process-wide mutex taken on every
 * allocation and free: the writer, the sink readers and the maintenance thread queued on
 * it, and it was most of the service loop's waits under load. Nothing here reads those
 * statistics. The setting must come before SQLite initializes; should something else in
 * the process have initialized it first, the call fails and the statistics stay on,
 * which costs speed only. */
static pthread_once_t sqlite_configured = PTHREAD_ONCE_INIT;

static void configure_sqlite(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

/* Every connection is used by one thread at a time, so SQLite need not serialize calls
 * on it (its mutex around every call on the writer's connection was 3 % of the service
 * loop). The writer's connection is the one two threads use: the writer and the
 * maintenance thread, which prunes through it. Every use of it holds write_lock: the
 * writer's transaction, the maintenance thread's auxiliary lock, and the writer's reads
 * outside a transaction (writer_read_lock). */
static int open_connection(struct outbox *ob, sqlite3 **db_out, char *errstr,
                           size_t errstr_size)
{
    sqlite3 *db = NULL;
    pthread_once(&sqlite_configured, configure_sqlite);
    int rc = sqlite3_open_v2(ob->path, &db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        errstr_set(errstr, errstr_size, "outbox %s: cannot open: %s", ob->path,
                  db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return OUTBOX_ERROR;
    }
    sqlite3_busy_timeout(db, OUTBOX_BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(db, 1);
    /* Debian builds SQLite with secure_delete on: every page a prune empties was zeroed
     * and written to the WAL, then copied by the checkpoint, so each delivered event
     * was written twice (without it the relay writes 31 % fewer bytes per
     * notification). FAST still zeroes deleted rows on pages that are written anyway;
     * an emptied page keeps its old bytes until it is reused (SQLite's own default
     * zeroes nothing). What it held had been delivered to every sink. */
    rc = sqlite3_exec(db, "PRAGMA secure_delete=FAST", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        errstr_set(errstr, errstr_size, "outbox %s: cannot set secure_delete: %s", ob->path,
                  sqlite3_errmsg(db));
        sqlite3_close(db);
        return OUTBOX_ERROR;
    }
    *db_out = db;
    return OUTBOX_OK;
}

static int exec_sql(struct outbox *ob, sqlite3 *db, const char *sql, char *errstr,
                    size_t errstr_size)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sql_error(ob, db, rc, sql, errstr, errstr_size);
    return OUTBOX_OK;
}

/* Runs a statement that returns at most one integer; *value keeps its value on no row. */
static int step_int(struct outbox *ob, sqlite3 *db, sqlite3_stmt *stmt, int64_t *value,
                    char *errstr, size_t errstr_size)
{
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        *value = sqlite3_column_int64(stmt, 0);
    sqlite3_reset(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sql_error(ob, db, rc, sqlite3_sql(stmt), errstr, errstr_size);
    return OUTBOX_OK;
}

static int step_done(struct outbox *ob, sqlite3 *db, sqlite3_stmt *stmt, char *errstr,
                     size_t errstr_size)
{
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return sql_error(ob, db, rc, sqlite3_sql(stmt), errstr, errstr_size);
    return OUTBOX_OK;
}

static void bind_text(sqlite3_stmt *stmt, int index, const char *text)
{
    if (text)
        sqlite3_bind_text(stmt, index, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(stmt, index);
}

static void free_dead_items(struct dead_letter_item *item)
{
    while (item) {
        struct dead_letter_item *next = item->next;
        free(item->sink);
        free(item->reason);
        relay_event_free(item->event);
        relay_event_free(item->alert);
        free(item);
        item = next;
    }
}

/* ---- disk use and pressure ------------------------------------------------------ */

static void update_usage(struct outbox *ob, int64_t used)
{
    ob->used_bytes = used;
    if (ob->max_bytes <= 0)
        return;
    ob->full = used >= ob->max_bytes;
    int64_t raise_at = (int64_t)(ob->high_water * (double)ob->max_bytes);
    /* Hysteresis: the flag drops a little below where it rose, so a relay hovering at
     * the threshold does not flap alerts. */
    int64_t clear_below = raise_at - ob->max_bytes / 20;
    bool changed = false, now_pressured = false;
    pthread_mutex_lock(&ob->mu);
    if (!ob->pressure && used >= raise_at) {
        ob->pressure = true;
        ob->pressure_episodes++;
        changed = now_pressured = true;
    } else if (ob->pressure && used < clear_below) {
        ob->pressure = false;
        changed = true;
    }
    pthread_mutex_unlock(&ob->mu);
    if (changed && ob->on_pressure)
        ob->on_pressure(ob->pressure_opaque, now_pressured, used, ob->max_bytes);
}

/* Live pages of the database file: what stored rows occupy. Freed pages are reused
 * before the file grows, so the file never grows past the high mark of this value.
 * The writer measures after every commit with its prepared statement (preparing it each
 * time was 1.6 % of the service loop at full load); pruning passes stmt NULL. */
static int measure_live_bytes(struct outbox *ob, sqlite3 *db, sqlite3_stmt *stmt,
                              int64_t *used, char *errstr, size_t errstr_size)
{
    sqlite3_stmt *once = NULL;
    if (!stmt) {
        int rc = sqlite3_prepare_v2(db, LIVE_PAGES_SQL, -1, &once, NULL);
        if (rc != SQLITE_OK)
            return sql_error(ob, db, rc, "measuring size", errstr, errstr_size);
        stmt = once;
    }
    int64_t pages = -1;
    int status = step_int(ob, db, stmt, &pages, errstr, errstr_size);
    sqlite3_finalize(once);
    if (status != OUTBOX_OK)
        return status;
    if (pages < 0) {
        errstr_set(errstr, errstr_size, "outbox %s: measuring size: no page count", ob->path);
        return OUTBOX_ERROR;
    }
    *used = pages * ob->page_size;
    return OUTBOX_OK;
}

/* ---- the hot window --------------------------------------------------------------- */

static struct hot_entry *hot_at(struct outbox *ob, size_t i)
{
    return &ob->hot[(ob->hot_head + i) & (OUTBOX_HOT_EVENTS - 1)];
}

static void hot_entry_release(struct hot_entry *entry)
{
    relay_event_free(entry->event);
    free(entry->target);
}

/* Under hot_mu. */
static void hot_drop_oldest(struct outbox *ob)
{
    struct hot_entry *oldest = hot_at(ob, 0);
    ob->hot_bytes -= oldest->bytes;
    hot_entry_release(oldest);
    ob->hot_head = (ob->hot_head + 1) & (OUTBOX_HOT_EVENTS - 1);
    ob->hot_count--;
    ob->hot_first_seq++;
}

/* Drops what every live reader has fetched; under hot_mu. */
static void hot_trim_fetched(struct outbox *ob)
{
    int64_t floor = INT64_MAX;
    for (size_t i = 0; i < ob->hot_reader_count; i++)
        if (ob->hot_readers[i]->hot_fetched < floor)
            floor = ob->hot_readers[i]->hot_fetched;
    while (ob->hot_count > 0 && ob->hot_first_seq <= floor)
        hot_drop_oldest(ob);
}

/* Writer: remembers an event of the open transaction. */
static void hot_stage(struct outbox *ob, int64_t seq, const struct relay_event *event,
                      const char *target, size_t data_len, int64_t bytes)
{
    if (ob->hot_pending_count == ob->hot_pending_cap) {
        size_t cap = ob->hot_pending_cap ? 2 * ob->hot_pending_cap : 256;
        struct hot_entry *grown = realloc(ob->hot_pending, cap * sizeof *grown);
        if (!grown)
            abort();
        ob->hot_pending = grown;
        ob->hot_pending_cap = cap;
    }
    /* Records carry their data's length (relay_event_data_len): measured here once,
     * before the event is shared and becomes read-only. */
    if (event->data_len == 0)
        ((struct relay_event *)event)->data_len = data_len;
    ob->hot_pending[ob->hot_pending_count++] = (struct hot_entry){
        .seq = seq,
        .event = relay_event_share(event),
        .target = target ? xstrdup(target) : NULL,
        .bytes = bytes,
    };
}

/* Writer, after a rollback: the staged events were never stored. */
static void hot_discard_staged(struct outbox *ob)
{
    for (size_t i = 0; i < ob->hot_pending_count; i++)
        hot_entry_release(&ob->hot_pending[i]);
    ob->hot_pending_count = 0;
}

/* Writer, after its commit: the staged events join the window. A seq that does not
 * follow the window's last (another process appended between our commits: dlq
 * replay) empties it first, so what it holds stays consecutive and readers take the
 * gap from the database. */
static void hot_publish_staged(struct outbox *ob)
{
    if (ob->hot_pending_count == 0)
        return;
    pthread_mutex_lock(&ob->hot_mu);
    for (size_t i = 0; i < ob->hot_pending_count; i++) {
        struct hot_entry *entry = &ob->hot_pending[i];
        if (entry->seq != ob->hot_first_seq + (int64_t)ob->hot_count) {
            while (ob->hot_count > 0)
                hot_drop_oldest(ob);
            ob->hot_first_seq = entry->seq;
        }
        if (ob->hot_count == OUTBOX_HOT_EVENTS)
            hot_drop_oldest(ob);
        *hot_at(ob, ob->hot_count) = *entry;
        ob->hot_count++;
        ob->hot_bytes += entry->bytes;
    }
    while (ob->hot_bytes > OUTBOX_HOT_BYTES && ob->hot_count > 0)
        hot_drop_oldest(ob);
    hot_trim_fetched(ob);
    pthread_mutex_unlock(&ob->hot_mu);
    ob->hot_pending_count = 0;
}

/* Every sink has finished the events through floor: pruning may delete them, so the
 * window must not hand them out again. */
static void hot_drop_through(struct outbox *ob, int64_t floor)
{
    pthread_mutex_lock(&ob->hot_mu);
    while (ob->hot_count > 0 && ob->hot_first_seq <= floor)
        hot_drop_oldest(ob);
    pthread_mutex_unlock(&ob->hot_mu);
}

/* Notes that the database gave reader records through seq. */
static void hot_note_fetched(struct outbox_reader *reader, int64_t seq)
{
    struct outbox *ob = reader->ob;
    pthread_mutex_lock(&ob->hot_mu);
    reader->hot_returned = reader->hot_scanned = seq;
    if (seq > reader->hot_fetched)
        reader->hot_fetched = seq;
    pthread_mutex_unlock(&ob->hot_mu);
}

/* Fills records from the window when it holds what follows after_seq for this reader;
 * returns how many (0: the window cannot answer, or has nothing new for this sink). A
 * reader asking after the last record it was given starts past what it already
 * scanned: the rows between were for other sinks, and may have left the window. */
static int hot_fetch(struct outbox_reader *reader, int64_t after_seq, int max,
                     struct outbox_record *records)
{
    struct outbox *ob = reader->ob;
    int count = 0;
    pthread_mutex_lock(&ob->hot_mu);
    int64_t seq = after_seq + 1;
    if (after_seq == reader->hot_returned && reader->hot_scanned > after_seq)
        seq = reader->hot_scanned + 1;
    int64_t last = ob->hot_first_seq + (int64_t)ob->hot_count - 1;
    if (ob->hot_count > 0 && seq >= ob->hot_first_seq && seq <= last) {
        for (; seq <= last && count < max; seq++) {
            struct hot_entry *entry = hot_at(ob, (size_t)(seq - ob->hot_first_seq));
            if (entry->target && strcmp(entry->target, reader->sink) != 0)
                continue;
            records[count].seq = seq;
            records[count].event = relay_event_share(entry->event);
            count++;
        }
        reader->hot_returned = count > 0 ? records[count - 1].seq : after_seq;
        reader->hot_scanned = seq - 1;
        if (seq - 1 > reader->hot_fetched)
            reader->hot_fetched = seq - 1;
    }
    pthread_mutex_unlock(&ob->hot_mu);
    return count;
}

/* ---- writer transaction ---------------------------------------------------------- */

static bool caller_is_writer_in_txn(struct outbox *ob)
{
    pthread_mutex_lock(&ob->mu);
    bool mine = ob->writer_holds_lock && pthread_equal(ob->writer_thread, pthread_self());
    pthread_mutex_unlock(&ob->mu);
    return mine;
}

static void writer_release_lock(struct outbox *ob)
{
    pthread_mutex_lock(&ob->mu);
    ob->writer_holds_lock = false;
    pthread_mutex_unlock(&ob->mu);
    pthread_mutex_unlock(&ob->write_lock);
}

/* Forgets the open transaction after SQLite rolled it back (or we did). */
static void drop_staged_meta(struct outbox *ob)
{
    for (size_t i = 0; i < STAGED_META_MAX; i++)
        ob->staged[i].live = false;
}

static struct staged_meta *find_staged_meta(struct outbox *ob, const char *key)
{
    for (size_t i = 0; i < STAGED_META_MAX; i++)
        if (ob->staged[i].key && strcmp(ob->staged[i].key, key) == 0)
            return &ob->staged[i];
    return NULL;
}

static void writer_after_rollback(struct outbox *ob)
{
    drop_staged_meta(ob);
    hot_discard_staged(ob);
    ob->in_txn = false;
    ob->pending = ob->pending_events = 0;
    ob->pending_bytes = 0;
    ob->next_seq = 0; /* reloaded from the database at the next begin */
    ob->rollbacks++;
    pthread_mutex_lock(&ob->mu);
    for (size_t i = 0; i < ob->slot_count; i++)
        ob->slots[i].writing = ob->slots[i].written;
    if (ob->dead_in_txn) {
        struct dead_letter_item *last = ob->dead_in_txn;
        while (last->next)
            last = last->next;
        last->next = ob->dead_queue;
        if (!ob->dead_queue)
            ob->dead_queue_tail = &last->next;
        ob->dead_queue = ob->dead_in_txn;
        ob->dead_in_txn = NULL;
        ob->posted_work = true;
    }
    pthread_mutex_unlock(&ob->mu);
    writer_release_lock(ob);
}

/* After a failed statement inside the transaction: if SQLite rolled the whole
 * transaction back, the writer state must follow. */
static void writer_check_rollback(struct outbox *ob)
{
    if (ob->in_txn && sqlite3_get_autocommit(ob->db)) {
        log_warn("outbox", "outbox %s: transaction rolled back after an error; %d pending"
                 " writes lost", ob->path, ob->pending);
        writer_after_rollback(ob);
    }
}

static int writer_begin(struct outbox *ob, char *errstr, size_t errstr_size)
{
    if (ob->in_txn)
        return OUTBOX_OK;
    pthread_mutex_lock(&ob->mu);
    ob->writer_wants_lock = true;
    while (ob->aux_waiting)
        pthread_cond_wait(&ob->writer_cond, &ob->mu);
    pthread_mutex_unlock(&ob->mu);
    pthread_mutex_lock(&ob->write_lock);
    pthread_mutex_lock(&ob->mu);
    ob->writer_holds_lock = true;
    ob->writer_wants_lock = false;
    ob->writer_thread = pthread_self();
    pthread_cond_broadcast(&ob->writer_turn_cond);
    pthread_mutex_unlock(&ob->mu);

    int status = step_done(ob, ob->db, ob->ws[WS_BEGIN], errstr, errstr_size);
    if (status != OUTBOX_OK) {
        writer_release_lock(ob);
        return status;
    }
    /* Another process (dlq replay) may have appended since our last commit. */
    int64_t last = 0;
    status = step_int(ob, ob->db, ob->ws[WS_MAX_SEQ], &last, errstr, errstr_size);
    if (status != OUTBOX_OK) {
        sqlite3_step(ob->ws[WS_ROLLBACK]);
        sqlite3_reset(ob->ws[WS_ROLLBACK]);
        writer_release_lock(ob);
        return status;
    }
    if (ob->next_seq <= last)
        ob->next_seq = last + 1;
    ob->in_txn = true;
    ob->pending = ob->pending_events = 0;
    ob->pending_bytes = 0;
    ob->first_pending_ms = time_mono_ms();
    return OUTBOX_OK;
}

static int put_meta(struct outbox *ob, const char *key, const char *value, char *errstr,
                    size_t errstr_size)
{
    sqlite3_stmt *stmt = ob->ws[WS_PUT_META];
    bind_text(stmt, 1, key);
    bind_text(stmt, 2, value);
    return step_done(ob, ob->db, stmt, errstr, errstr_size);
}

static int writer_commit(struct outbox *ob, char *errstr, size_t errstr_size)
{
    if (!ob->in_txn)
        return OUTBOX_OK;
    int status = OUTBOX_OK;
    for (size_t i = 0; i < STAGED_META_MAX && status == OUTBOX_OK; i++)
        if (ob->staged[i].live)
            status = put_meta(ob, ob->staged[i].key, strbuf_cstr(&ob->staged[i].value), errstr,
                              errstr_size);
    if (status == OUTBOX_OK && ob->pending_events > 0) {
        char text[32];
        snprintf(text, sizeof text, "%" PRId64, ob->next_seq - 1);
        status = put_meta(ob, "last_seq", text, errstr, errstr_size);
    }
    if (status == OUTBOX_OK)
        status = step_done(ob, ob->db, ob->ws[WS_COMMIT], errstr, errstr_size);
    if (status != OUTBOX_OK) {
        if (!sqlite3_get_autocommit(ob->db)) {
            sqlite3_step(ob->ws[WS_ROLLBACK]);
            sqlite3_reset(ob->ws[WS_ROLLBACK]);
        }
        log_warn("outbox", "outbox %s: commit failed, %d pending writes lost", ob->path,
                 ob->pending);
        writer_after_rollback(ob);
        return status;
    }
    int committed_events = ob->pending_events;
    drop_staged_meta(ob);
    ob->in_txn = false;
    ob->pending = ob->pending_events = 0;
    ob->pending_bytes = 0;
    struct dead_letter_item *done_dead = ob->dead_in_txn;
    ob->dead_in_txn = NULL;
    /* Before readers hear of the commit, so the ones it wakes find it in memory. */
    hot_publish_staged(ob);
    pthread_mutex_lock(&ob->mu);
    for (size_t i = 0; i < ob->slot_count; i++)
        ob->slots[i].written = ob->slots[i].writing;
    if (committed_events > 0) {
        ob->committed_seq = ob->next_seq - 1;
        pthread_cond_broadcast(&ob->committed_cond);
    }
    pthread_mutex_unlock(&ob->mu);
    free_dead_items(done_dead);

    int64_t used = 0;
    char measure_err[256];
    if (measure_live_bytes(ob, ob->db, ob->ws[WS_LIVE_PAGES], &used, measure_err,
                           sizeof measure_err) == OUTBOX_OK)
        update_usage(ob, used);
    writer_release_lock(ob);
    return OUTBOX_OK;
}

/* An event's texts with their lengths, measured once per append for the size check,
 * SQLite's binds and the pending size: the data alone is kilobytes, and measuring it
 * three times showed in the service loop's profile. */
struct event_texts {
    const char *subject, *source;
    size_t id, type, subject_len, source_len, data;
    int64_t size_estimate;
};

static void measure_event(const struct relay_event *event, struct event_texts *t)
{
    t->subject = event->subject ? event->subject : "";
    t->source = event->source ? event->source : "";
    t->id = relay_event_text_len(event->id, event->id_len);
    t->type = relay_event_text_len(event->type, event->type_len);
    t->subject_len = relay_event_text_len(t->subject, event->subject_len);
    t->source_len = relay_event_text_len(t->source, event->source_len);
    t->data = relay_event_data_len(event);
    t->size_estimate = (int64_t)(t->id + t->type + t->subject_len + t->source_len + t->data) +
                       OUTBOX_ROW_OVERHEAD;
}

/* Moves the writer to the next segment once the one it appends to is full and the next
 * is empty (pruned). Runs inside the writer's transaction, so pruning, which takes the
 * write lock, never sees a segment change under it. */
static int maybe_rotate(struct outbox *ob, char *errstr, size_t errstr_size)
{
    if (ob->segment_rows < ob->next_rotation_check)
        return OUTBOX_OK;
    int next = (atomic_load(&ob->current_segment) + 1) % OUTBOX_SEGMENTS;
    int64_t rows = 0;
    int status = step_int(ob, ob->db, ob->segment_stmts[next][SEG_ROWS], &rows, errstr,
                          errstr_size);
    if (status != OUTBOX_OK)
        return status;
    if (rows > 0) { /* a sink is behind: grow this one, look again a little later */
        ob->next_rotation_check = ob->segment_rows + OUTBOX_SEGMENT_ROWS / 8;
        return OUTBOX_OK;
    }
    atomic_store(&ob->current_segment, next);
    ob->segment_rows = 0;
    ob->next_rotation_check = OUTBOX_SEGMENT_ROWS;
    return OUTBOX_OK;
}

static int insert_measured_event(struct outbox *ob, const struct relay_event *event,
                                 const struct event_texts *t, const char *target,
                                 int64_t *seq_out, char *errstr, size_t errstr_size)
{
    int status = maybe_rotate(ob, errstr, errstr_size);
    if (status != OUTBOX_OK) {
        writer_check_rollback(ob);
        return status;
    }
    sqlite3_stmt *stmt = ob->segment_stmts[atomic_load(&ob->current_segment)][SEG_INSERT];
    int64_t seq = ob->next_seq;
    sqlite3_bind_int64(stmt, 1, seq);
    sqlite3_bind_text(stmt, 2, event->id, (int)t->id, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, event->type, (int)t->type, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 4, (int)event->family);
    sqlite3_bind_text(stmt, 5, t->subject, (int)t->subject_len, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 6, t->source, (int)t->source_len, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 7, event->time_ms);
    sqlite3_bind_text(stmt, 8, event->data, (int)t->data, SQLITE_STATIC);
    bind_text(stmt, 9, target);
    status = step_done(ob, ob->db, stmt, errstr, errstr_size);
    if (status != OUTBOX_OK) {
        writer_check_rollback(ob);
        return status;
    }
    hot_stage(ob, seq, event, target, t->data, t->size_estimate);
    ob->segment_rows++;
    ob->next_seq = seq + 1;
    ob->pending++;
    ob->pending_events++;
    ob->pending_bytes += t->size_estimate;
    if (seq_out)
        *seq_out = seq;
    return OUTBOX_OK;
}

static int insert_event(struct outbox *ob, const struct relay_event *event, const char *target,
                        int64_t *seq_out, char *errstr, size_t errstr_size)
{
    struct event_texts t;
    measure_event(event, &t);
    return insert_measured_event(ob, event, &t, target, seq_out, errstr, errstr_size);
}

/* Writes the dead letters and cursors readers posted into the open transaction. */
static int writer_take_posted(struct outbox *ob, char *errstr, size_t errstr_size)
{
    pthread_mutex_lock(&ob->mu);
    bool work = ob->posted_work;
    pthread_mutex_unlock(&ob->mu);
    if (!work)
        return OUTBOX_OK;
    int status = writer_begin(ob, errstr, errstr_size);
    if (status != OUTBOX_OK)
        return status;

    pthread_mutex_lock(&ob->mu);
    struct dead_letter_item *items = ob->dead_queue;
    ob->dead_queue = NULL;
    ob->dead_queue_tail = &ob->dead_queue;
    ob->posted_work = false;
    pthread_mutex_unlock(&ob->mu);

    /* Dead letters first: the cursor that passes them commits with them or later. */
    while (items) {
        struct dead_letter_item *item = items;
        sqlite3_stmt *stmt = ob->ws[WS_INSERT_DEAD];
        bind_text(stmt, 1, item->sink);
        sqlite3_bind_int64(stmt, 2, item->seq);
        bind_text(stmt, 3, item->event->id);
        bind_text(stmt, 4, item->event->type);
        sqlite3_bind_int(stmt, 5, (int)item->event->family);
        bind_text(stmt, 6, item->event->subject);
        bind_text(stmt, 7, item->event->source);
        sqlite3_bind_int64(stmt, 8, item->event->time_ms);
        bind_text(stmt, 9, item->event->data);
        bind_text(stmt, 10, item->reason);
        sqlite3_bind_int64(stmt, 11, item->dead_ms);
        status = step_done(ob, ob->db, stmt, errstr, errstr_size);
        /* The alert is not subject to max_bytes: dead letters are rare and the operator
         * must hear about them most when the outbox is under pressure. */
        if (status == OUTBOX_OK && item->alert)
            status = insert_event(ob, item->alert, NULL, NULL, errstr, errstr_size);
        if (status != OUTBOX_OK) {
            /* Put the rest back; a rollback also re-queues what this txn took. */
            pthread_mutex_lock(&ob->mu);
            struct dead_letter_item *last = items;
            while (last->next)
                last = last->next;
            last->next = ob->dead_queue;
            if (!ob->dead_queue)
                ob->dead_queue_tail = &last->next;
            ob->dead_queue = items;
            ob->posted_work = true;
            pthread_mutex_unlock(&ob->mu);
            writer_check_rollback(ob);
            return status;
        }
        items = item->next;
        item->next = ob->dead_in_txn;
        ob->dead_in_txn = item;
        ob->pending++;
    }

    int64_t now = time_now_ms();
    pthread_mutex_lock(&ob->mu);
    for (size_t i = 0; i < ob->slot_count && status == OUTBOX_OK; i++) {
        struct cursor_slot *slot = &ob->slots[i];
        if (slot->posted <= slot->writing)
            continue;
        sqlite3_stmt *stmt = ob->ws[WS_SET_CURSOR];
        bind_text(stmt, 1, slot->sink);
        sqlite3_bind_int64(stmt, 2, slot->posted);
        sqlite3_bind_int64(stmt, 3, now);
        status = step_done(ob, ob->db, stmt, errstr, errstr_size);
        if (status == OUTBOX_OK) {
            slot->writing = slot->posted;
            ob->pending++;
        } else {
            ob->posted_work = true;
        }
    }
    pthread_mutex_unlock(&ob->mu);
    if (status != OUTBOX_OK)
        writer_check_rollback(ob);
    return status;
}

/* ---- creation ---------------------------------------------------------------------- */

static int init_schema(struct outbox *ob, char *errstr, size_t errstr_size)
{
    int64_t version = 0;
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(ob->db, "PRAGMA user_version", -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return sql_error(ob, ob->db, rc, "reading the schema version", errstr, errstr_size);
    int status = step_int(ob, ob->db, stmt, &version, errstr, errstr_size);
    sqlite3_finalize(stmt);
    if (status != OUTBOX_OK)
        return status;
    if (version > OUTBOX_SCHEMA_VERSION) {
        errstr_set(errstr, errstr_size,
                  "outbox %s: schema version %" PRId64 " is newer than this relay's (%d)",
                  ob->path, version, OUTBOX_SCHEMA_VERSION);
        return OUTBOX_ERROR;
    }
    status = exec_sql(ob, ob->db, "BEGIN IMMEDIATE", errstr, errstr_size);
    if (status != OUTBOX_OK)
        return status;
    /* Version 1 kept every event in one table: it becomes the first segment, with the
     * events a sink has not finished yet. */
    if (version == 1)
        status = exec_sql(ob, ob->db,
                          "ALTER TABLE events RENAME TO events_0;"
                          " DROP INDEX IF EXISTS events_target;",
                          errstr, errstr_size);
    if (status == OUTBOX_OK)
        status = exec_sql(ob, ob->db, schema_sql, errstr, errstr_size);
    if (status == OUTBOX_OK) {
        char set_version[64];
        snprintf(set_version, sizeof set_version, "PRAGMA user_version = %d",
                 OUTBOX_SCHEMA_VERSION);
        status = exec_sql(ob, ob->db, set_version, errstr, errstr_size);
    }
    if (status == OUTBOX_OK)
        return exec_sql(ob, ob->db, "COMMIT", errstr, errstr_size);
    sqlite3_exec(ob->db, "ROLLBACK", NULL, NULL, NULL);
    return status;
}

static void *maintain_main(void *arg);
static int on_wal_commit(void *opaque, sqlite3 *db, const char *name, int wal_frames);

/* Prepares the statements of each segment and resumes appending to the segment that holds
 * the newest event. */
static int prepare_segments(struct outbox *ob, char *errstr, size_t errstr_size)
{
    int64_t newest = -1;
    for (int k = 0; k < OUTBOX_SEGMENTS; k++) {
        for (int i = 0; i < SEG_STMT_COUNT; i++) {
            char sql[512];
            snprintf(sql, sizeof sql, segment_sql[i], k, k, k);
            int rc = sqlite3_prepare_v3(ob->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                        &ob->segment_stmts[k][i], NULL);
            if (rc != SQLITE_OK)
                return sql_error(ob, ob->db, rc, "preparing statements", errstr, errstr_size);
        }
        int64_t segment_newest = -1;
        int status = step_int(ob, ob->db, ob->segment_stmts[k][SEG_NEWEST], &segment_newest,
                              errstr, errstr_size);
        if (status != OUTBOX_OK)
            return status;
        if (segment_newest > newest) {
            newest = segment_newest;
            atomic_store(&ob->current_segment, k);
        }
    }
    ob->next_rotation_check = OUTBOX_SEGMENT_ROWS;
    return step_int(ob, ob->db, ob->segment_stmts[atomic_load(&ob->current_segment)][SEG_ROWS],
                    &ob->segment_rows, errstr, errstr_size);
}

struct outbox *outbox_create(const struct outbox_options *options, char *errstr,
                             size_t errstr_size)
{
    if (!options || !options->path || !options->path[0]) {
        errstr_set(errstr, errstr_size, "outbox: no path given");
        return NULL;
    }
    if (options->max_bytes < 0 || options->high_water < 0 || options->high_water > 1 ||
        options->commit_interval_ms < 0 || options->commit_max_events < 0) {
        errstr_set(errstr, errstr_size, "outbox %s: invalid limits (max_bytes, high_water,"
                  " commit_interval_ms, commit_max_events)", options->path);
        return NULL;
    }
    struct outbox *ob = calloc(1, sizeof *ob);
    if (!ob)
        abort();
    ob->path = xstrdup_or_empty(options->path);
    ob->max_bytes = options->max_bytes;
    ob->high_water = options->high_water > 0 ? options->high_water : 0.8;
    ob->commit_interval_ms = options->commit_interval_ms > 0 ? options->commit_interval_ms : 10;
    ob->commit_max_events = options->commit_max_events > 0 ? options->commit_max_events : 1000;
    ob->maintain_interval_ms = options->maintain_interval_ms == 0 ? 500
                                                                  : options->maintain_interval_ms;
    ob->on_pressure = options->on_pressure;
    ob->pressure_opaque = options->pressure_opaque;
    ob->dead_queue_tail = &ob->dead_queue;
    pthread_mutex_init(&ob->mu, NULL);
    pthread_mutex_init(&ob->write_lock, NULL);
    pthread_mutex_init(&ob->aux_mu, NULL);
    pthread_mutex_init(&ob->query_mu, NULL);
    pthread_mutex_init(&ob->hot_mu, NULL);
    ob->hot = xcalloc(OUTBOX_HOT_EVENTS, sizeof *ob->hot);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&ob->committed_cond, &attr);
    pthread_cond_init(&ob->maintain_cond, &attr);
    pthread_cond_init(&ob->writer_cond, NULL);
    pthread_cond_init(&ob->writer_turn_cond, &attr);
    ob->prune_rows_per_target = OUTBOX_PRUNE_BATCH;
    pthread_condattr_destroy(&attr);

    if (open_connection(ob, &ob->db, errstr, errstr_size) != OUTBOX_OK)
        goto fail;
    /* Only takes effect on a database that has no pages yet. */
    if (options->max_bytes == 0 || options->max_bytes >= OUTBOX_LARGE_PAGE_MIN_BUDGET) {
        char page_size_sql[64];
        snprintf(page_size_sql, sizeof page_size_sql, "PRAGMA page_size=%d", OUTBOX_PAGE_SIZE);
        if (exec_sql(ob, ob->db, page_size_sql, errstr, errstr_size) != OUTBOX_OK)
            goto fail;
    }
    if (exec_sql(ob, ob->db, "PRAGMA journal_mode=WAL", errstr, errstr_size) != OUTBOX_OK)
        goto fail;
    char pragmas[256];
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA synchronous=%s; PRAGMA journal_size_limit=%d; PRAGMA wal_autocheckpoint=%d",
             options->synchronous_full ? "FULL" : "NORMAL", OUTBOX_JOURNAL_LIMIT,
             /* With a maintenance thread the checkpoints run there, off the writer. */
             ob->maintain_interval_ms > 0 ? 0 : 1000);
    if (exec_sql(ob, ob->db, pragmas, errstr, errstr_size) != OUTBOX_OK)
        goto fail;
    if (init_schema(ob, errstr, errstr_size) != OUTBOX_OK)
        goto fail;
    for (int i = 0; i < WS_COUNT; i++) {
        int rc = sqlite3_prepare_v3(ob->db, writer_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                    &ob->ws[i], NULL);
        if (rc != SQLITE_OK) {
            sql_error(ob, ob->db, rc, "preparing statements", errstr, errstr_size);
            goto fail;
        }
    }
    {
        sqlite3_stmt *stmt = NULL;
        sqlite3_prepare_v2(ob->db, "PRAGMA page_size", -1, &stmt, NULL);
        int status = stmt ? step_int(ob, ob->db, stmt, &ob->page_size, errstr, errstr_size)
                          : OUTBOX_ERROR;
        sqlite3_finalize(stmt);
        if (status != OUTBOX_OK)
            goto fail;
        ob->wal_checkpoint_frames = (int)(OUTBOX_WAL_CHECKPOINT_BYTES / ob->page_size);
        ob->checkpoint_held_frames = (int)(CHECKPOINT_HELD_BYTES / ob->page_size);
    }
    if (prepare_segments(ob, errstr, errstr_size) != OUTBOX_OK)
        goto fail;
    int64_t last = 0;
    if (step_int(ob, ob->db, ob->ws[WS_MAX_SEQ], &last, errstr, errstr_size) != OUTBOX_OK)
        goto fail;
    ob->committed_seq = last;
    ob->hot_first_seq = last + 1;
    ob->next_seq = last + 1;
    int64_t used = 0;
    if (measure_live_bytes(ob, ob->db, ob->ws[WS_LIVE_PAGES], &used, errstr, errstr_size) !=
        OUTBOX_OK)
        goto fail;
    update_usage(ob, used);

    if (open_connection(ob, &ob->aux_db, errstr, errstr_size) != OUTBOX_OK ||
        open_connection(ob, &ob->query_db, errstr, errstr_size) != OUTBOX_OK)
        goto fail;

    if (ob->maintain_interval_ms > 0) {
        if (pthread_create(&ob->maintain_thread, NULL, maintain_main, ob) != 0) {
            errstr_set(errstr, errstr_size, "outbox %s: cannot start maintenance thread",
                      ob->path);
            goto fail;
        }
        ob->maintain_started = true;
        sqlite3_wal_hook(ob->db, on_wal_commit, ob);
    }
    return ob;

fail:
    outbox_destroy(ob);
    return NULL;
}

void outbox_destroy(struct outbox *ob)
{
    if (!ob)
        return;
    if (ob->db && ob->ws[WS_COMMIT]) {
        char err[512];
        if (writer_take_posted(ob, err, sizeof err) != OUTBOX_OK ||
            writer_commit(ob, err, sizeof err) != OUTBOX_OK)
            log_error("outbox", "%s", err);
    }
    if (ob->maintain_started) {
        pthread_mutex_lock(&ob->mu);
        ob->maintain_stop = true;
        pthread_cond_broadcast(&ob->maintain_cond);
        pthread_mutex_unlock(&ob->mu);
        pthread_join(ob->maintain_thread, NULL);
    }
    if (ob->in_txn) {
        sqlite3_exec(ob->db, "ROLLBACK", NULL, NULL, NULL);
        writer_after_rollback(ob);
    }
    for (int i = 0; i < WS_COUNT; i++)
        sqlite3_finalize(ob->ws[i]);
    for (int k = 0; k < OUTBOX_SEGMENTS; k++)
        for (int i = 0; i < SEG_STMT_COUNT; i++)
            sqlite3_finalize(ob->segment_stmts[k][i]);
    if (ob->aux_db && ob->maintain_started)
        sqlite3_wal_checkpoint_v2(ob->aux_db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    sqlite3_close(ob->aux_db);
    sqlite3_close(ob->query_db);
    sqlite3_close(ob->db);
    free_dead_items(ob->dead_queue);
    free_dead_items(ob->dead_in_txn);
    for (size_t i = 0; i < ob->slot_count; i++)
        free(ob->slots[i].sink);
    free(ob->slots);
    for (size_t i = 0; i < STAGED_META_MAX; i++) {
        free(ob->staged[i].key);
        strbuf_free(&ob->staged[i].value);
    }
    pthread_cond_destroy(&ob->committed_cond);
    pthread_cond_destroy(&ob->maintain_cond);
    pthread_cond_destroy(&ob->writer_cond);
    pthread_cond_destroy(&ob->writer_turn_cond);
    pthread_mutex_destroy(&ob->mu);
    pthread_mutex_destroy(&ob->write_lock);
    pthread_mutex_destroy(&ob->aux_mu);
    pthread_mutex_destroy(&ob->query_mu);
    while (ob->hot_count > 0)
        hot_drop_oldest(ob);
    hot_discard_staged(ob);
    free(ob->hot);
    free(ob->hot_pending);
    free(ob->hot_readers);
    pthread_mutex_destroy(&ob->hot_mu);
    free(ob->path);
    free(ob);
}

const char *outbox_path(const struct outbox *ob) { return ob->path; }

/* ---- writer API ------------------------------------------------------------------ */

int outbox_append(struct outbox *ob, const struct relay_event *event, const char *target_sink,
                  int64_t *seq_out, char *errstr, size_t errstr_size)
{
    if (!event || !event->id || !event->type || !event->data) {
        errstr_set(errstr, errstr_size, "outbox %s: append of an incomplete event", ob->path);
        return OUTBOX_ERROR;
    }
    struct event_texts texts;
    measure_event(event, &texts);
    if (ob->max_bytes > 0) {
        int64_t needed = ob->used_bytes + ob->pending_bytes + texts.size_estimate;
        if (ob->full || needed > ob->max_bytes) {
            errstr_set(errstr, errstr_size,
                      "outbox %s: full (%" PRId64 " of max_bytes %" PRId64 " bytes in use);"
                      " waiting for sinks to catch up", ob->path,
                      (int64_t)ob->used_bytes + ob->pending_bytes, ob->max_bytes);
            return OUTBOX_FULL;
        }
    }
    int status = writer_begin(ob, errstr, errstr_size);
    if (status == OUTBOX_OK)
        status = insert_measured_event(ob, event, &texts, target_sink, seq_out, errstr,
                                       errstr_size);
    if (status == OUTBOX_OK && ob->pending_events >= ob->commit_max_events) {
        /* Pick up posted cursors too, so a busy writer does not starve them. */
        status = writer_take_posted(ob, errstr, errstr_size);
        if (status == OUTBOX_OK)
            status = writer_commit(ob, errstr, errstr_size);
    }
    return status;
}

int outbox_snapshot_put(struct outbox *ob, const char *key, const char *json, char *errstr,
                        size_t errstr_size)
{
    if (!key) {
        errstr_set(errstr, errstr_size, "outbox %s: snapshot write without a key", ob->path);
        return OUTBOX_ERROR;
    }
    int status = writer_begin(ob, errstr, errstr_size);
    if (status != OUTBOX_OK)
        return status;
    sqlite3_stmt *stmt = ob->ws[json ? WS_PUT_SNAPSHOT : WS_DEL_SNAPSHOT];
    bind_text(stmt, 1, key);
    if (json)
        bind_text(stmt, 2, json);
    status = step_done(ob, ob->db, stmt, errstr, errstr_size);
    if (status != OUTBOX_OK) {
        writer_check_rollback(ob);
        return status;
    }
    ob->pending++;
    return OUTBOX_OK;
}

/* A read on the writer's connection by the writer: outside its transaction it takes
 * write_lock, which the maintenance thread may hold while it prunes through the same
 * connection. Returns whether it took it, for writer_read_unlock. */
static bool writer_read_lock(struct outbox *ob)
{
    if (ob->in_txn)
        return false; /* the transaction holds it */
    pthread_mutex_lock(&ob->write_lock);
    return true;
}

static void writer_read_unlock(struct outbox *ob, bool took)
{
    if (took)
        pthread_mutex_unlock(&ob->write_lock);
}

static int snapshot_load_locked(struct outbox *ob,
                                void (*fn)(void *opaque, const char *key, const char *json),
                                void *opaque, char *errstr, size_t errstr_size)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(ob->db, "SELECT key, json FROM snapshot ORDER BY key", -1,
                                &stmt, NULL);
    if (rc != SQLITE_OK)
        return sql_error(ob, ob->db, rc, "reading the snapshot", errstr, errstr_size);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
        fn(opaque, (const char *)sqlite3_column_text(stmt, 0),
           (const char *)sqlite3_column_text(stmt, 1));
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE)
        return sql_error(ob, ob->db, rc, "reading the snapshot", errstr, errstr_size);
    return OUTBOX_OK;
}

int outbox_snapshot_load(struct outbox *ob,
                         void (*fn)(void *opaque, const char *key, const char *json),
                         void *opaque, char *errstr, size_t errstr_size)
{
    bool took = writer_read_lock(ob);
    int status = snapshot_load_locked(ob, fn, opaque, errstr, errstr_size);
    writer_read_unlock(ob, took);
    return status;
}

int outbox_meta_set(struct outbox *ob, const char *key, const char *value, char *errstr,
                    size_t errstr_size)
{
    if (!key || !value) {
        errstr_set(errstr, errstr_size, "outbox %s: metadata write without key or value",
                  ob->path);
        return OUTBOX_ERROR;
    }
    int status = writer_begin(ob, errstr, errstr_size);
    if (status == OUTBOX_OK)
        status = put_meta(ob, key, value, errstr, errstr_size);
    if (status != OUTBOX_OK) {
        writer_check_rollback(ob);
        return status;
    }
    struct staged_meta *staged = find_staged_meta(ob, key);
    if (staged)
        staged->live = false; /* this write is the newer one */
    ob->pending++;
    return OUTBOX_OK;
}

int outbox_meta_stage(struct outbox *ob, const char *key, const char *value, char *errstr,
                      size_t errstr_size)
{
    if (!key || !value) {
        errstr_set(errstr, errstr_size, "outbox %s: metadata write without key or value",
                  ob->path);
        return OUTBOX_ERROR;
    }
    struct staged_meta *staged = find_staged_meta(ob, key);
    for (size_t i = 0; !staged && i < STAGED_META_MAX; i++) {
        if (!ob->staged[i].key) {
            staged = &ob->staged[i];
            staged->key = xstrdup(key);
        }
    }
    if (!staged)
        return outbox_meta_set(ob, key, value, errstr, errstr_size);
    int status = writer_begin(ob, errstr, errstr_size);
    if (status != OUTBOX_OK)
        return status;
    strbuf_reset(&staged->value);
    strbuf_append(&staged->value, value);
    staged->live = true;
    ob->pending++;
    return OUTBOX_OK;
}

int outbox_meta_get(struct outbox *ob, const char *key, char **value_out, char *errstr,
                    size_t errstr_size)
{
    *value_out = NULL;
    struct staged_meta *staged = find_staged_meta(ob, key);
    if (staged && staged->live) {
        *value_out = xstrdup(strbuf_cstr(&staged->value));
        return OUTBOX_OK;
    }
    bool took = writer_read_lock(ob);
    sqlite3_stmt *stmt = ob->ws[WS_GET_META];
    bind_text(stmt, 1, key);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        *value_out = xstrdup_or_empty((const char *)sqlite3_column_text(stmt, 0));
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    int status = rc == SQLITE_ROW || rc == SQLITE_DONE
                     ? OUTBOX_OK
                     : sql_error(ob, ob->db, rc, "reading metadata", errstr, errstr_size);
    writer_read_unlock(ob, took);
    return status;
}

int outbox_flush_due(struct outbox *ob, int64_t now_mono_ms, char *errstr, size_t errstr_size)
{
    int status = writer_take_posted(ob, errstr, errstr_size);
    if (status != OUTBOX_OK)
        return status;
    if (ob->in_txn && (ob->pending_events >= ob->commit_max_events ||
                       now_mono_ms - ob->first_pending_ms >= ob->commit_interval_ms))
        return writer_commit(ob, errstr, errstr_size);
    return OUTBOX_OK;
}

int64_t outbox_commit_due_in_ms(const struct outbox *ob, int64_t now_mono_ms)
{
    if (!ob->in_txn)
        return -1;
    if (ob->pending_events >= ob->commit_max_events)
        return 0;
    int64_t left = ob->first_pending_ms + ob->commit_interval_ms - now_mono_ms;
    return left > 0 ? left : 0;
}

int outbox_flush(struct outbox *ob, char *errstr, size_t errstr_size)
{
    int status = writer_take_posted(ob, errstr, errstr_size);
    if (status != OUTBOX_OK)
        return status;
    return writer_commit(ob, errstr, errstr_size);
}

int outbox_pending(const struct outbox *ob) { return ob->in_txn ? ob->pending : 0; }
bool outbox_full(const struct outbox *ob) { return ob->full; }
uint64_t outbox_rollback_count(const struct outbox *ob) { return ob->rollbacks; }
uint64_t outbox_wal_restarts(const struct outbox *ob) { return ob->wal_restarts; }

int64_t outbox_wal_bytes(const struct outbox *ob)
{
    char path[PATH_MAX];
    struct stat st;
    if (snprintf(path, sizeof path, "%s-wal", ob->path) >= (int)sizeof path ||
        stat(path, &st) != 0)
        return 0;
    return (int64_t)st.st_size;
}
bool outbox_pressure(const struct outbox *ob) { return ob->pressure; }
uint64_t outbox_pressure_episodes(const struct outbox *ob) { return ob->pressure_episodes; }
int64_t outbox_used_bytes(const struct outbox *ob) { return ob->used_bytes; }

uint64_t outbox_full_scan_rows(const struct outbox *ob)
{
    uint64_t rows = 0;
    for (int i = 0; i < WS_COUNT; i++)
        rows += (uint64_t)sqlite3_stmt_status(ob->ws[i], SQLITE_STMTSTATUS_FULLSCAN_STEP, 0);
    for (int k = 0; k < OUTBOX_SEGMENTS; k++)
        for (int i = 0; i < SEG_STMT_COUNT; i++)
            rows += (uint64_t)sqlite3_stmt_status(ob->segment_stmts[k][i],
                                                  SQLITE_STMTSTATUS_FULLSCAN_STEP, 0);
    return rows;
}

int64_t outbox_committed_seq(const struct outbox *ob)
{
    struct outbox *mutable_ob = (struct outbox *)ob;
    pthread_mutex_lock(&mutable_ob->mu);
    int64_t seq = ob->committed_seq;
    pthread_mutex_unlock(&mutable_ob->mu);
    return seq;
}

static struct timespec deadline_after(int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int64_t outbox_wait_committed(struct outbox *ob, int64_t after_seq, int timeout_ms)
{
    struct timespec deadline = deadline_after(timeout_ms > 0 ? timeout_ms : 0);
    pthread_mutex_lock(&ob->mu);
    while (ob->committed_seq <= after_seq && timeout_ms > 0) {
        if (pthread_cond_timedwait(&ob->committed_cond, &ob->mu, &deadline) == ETIMEDOUT)
            break;
    }
    int64_t seq = ob->committed_seq;
    pthread_mutex_unlock(&ob->mu);
    return seq;
}

/* ---- auxiliary writes and maintenance --------------------------------------------- */

/* Takes the write lock for a short auxiliary transaction; the writer yields at its next
 * begin. Must not be called by the writer while its transaction is open: callers commit
 * it first. */
static int aux_write_lock(struct outbox *ob, char *errstr, size_t errstr_size)
{
    if (caller_is_writer_in_txn(ob)) {
        int status = outbox_flush(ob, errstr, errstr_size);
        if (status != OUTBOX_OK)
            return status;
    }
    pthread_mutex_lock(&ob->aux_mu);
    pthread_mutex_lock(&ob->mu);
    ob->aux_waiting = true;
    pthread_mutex_unlock(&ob->mu);
    pthread_mutex_lock(&ob->write_lock);
    return OUTBOX_OK;
}

static void aux_write_unlock(struct outbox *ob)
{
    pthread_mutex_unlock(&ob->write_lock);
    pthread_mutex_lock(&ob->mu);
    ob->aux_waiting = false;
    pthread_cond_broadcast(&ob->writer_cond);
    pthread_mutex_unlock(&ob->mu);
    pthread_mutex_unlock(&ob->aux_mu);
}

static int exec_bound(struct outbox *ob, sqlite3 *db, const char *sql, int64_t a, int64_t b,
                      const char *text, int *changes, char *errstr, size_t errstr_size)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return sql_error(ob, db, rc, sql, errstr, errstr_size);
    sqlite3_bind_int64(stmt, 1, a);
    sqlite3_bind_int64(stmt, 2, b);
    if (text)
        sqlite3_bind_text(stmt, 3, text, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return sql_error(ob, db, rc, sql, errstr, errstr_size);
    if (changes)
        *changes = sqlite3_changes(db);
    return OUTBOX_OK;
}

static int aux_exec_bound(struct outbox *ob, const char *sql, int64_t a, int64_t b,
                          const char *text, int *changes, char *errstr, size_t errstr_size)
{
    return exec_bound(ob, ob->aux_db, sql, a, b, text, changes, errstr, errstr_size);
}

/* The lowest stored cursor, or -1 when no sink is registered. */
static int min_cursor(struct outbox *ob, int64_t *out, char *errstr, size_t errstr_size)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(ob->aux_db, "SELECT COUNT(*), MIN(seq) FROM cursors", -1,
                                &stmt, NULL);
    if (rc != SQLITE_OK)
        return sql_error(ob, ob->aux_db, rc, "reading cursors", errstr, errstr_size);
    rc = sqlite3_step(stmt);
    *out = -1;
    if (rc == SQLITE_ROW && sqlite3_column_int64(stmt, 0) > 0)
        *out = sqlite3_column_int64(stmt, 1);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW)
        return sql_error(ob, ob->aux_db, rc, "reading cursors", errstr, errstr_size);
    return OUTBOX_OK;
}

static int maintain(struct outbox *ob, int max_rows, bool yield_to_writer, int64_t *pruned_out,
                    char *errstr, size_t errstr_size);

/* Copies the WAL into the database file. The passive pass runs beside the writer; when
 * the WAL has grown past OUTBOX_WAL_CHECKPOINT_BYTES, the writer cannot be outrun, so a
 * restart pass holds it (at its next begin) while the few frames committed meanwhile are
 * copied and readers on older snapshots finish; its next commit then starts the WAL
 * over. Failures are left to the next round: the WAL only grows meanwhile. */
static void checkpoint_wal(struct outbox *ob, bool restart_when_large)
{
    atomic_store(&ob->checkpoint_wanted, false);
    int wal_frames = 0, copied = 0;
    pthread_mutex_lock(&ob->aux_mu);
    /* Each pass copies what the writer committed during the one before, so a few passes
     * leave the restart pass, which the writer waits for, little to copy. */
    int last_pass = INT_MAX;
    for (int pass = 0; pass < CHECKPOINT_PASSIVE_PASSES; pass++) {
        int copied_before = copied;
        sqlite3_wal_checkpoint_v2(ob->aux_db, NULL, SQLITE_CHECKPOINT_PASSIVE, &wal_frames,
                                  &copied);
        int this_pass = copied - copied_before;
        /* A writer as fast as the copying would keep the passes going while the WAL
         * grows: then the restart pass holds it right away. */
        if (this_pass <= ob->checkpoint_held_frames || this_pass > last_pass / 2)
            break;
        last_pass = this_pass;
    }
    pthread_mutex_unlock(&ob->aux_mu);
    if (!restart_when_large || wal_frames < ob->wal_checkpoint_frames)
        return;
    char err[256];
    if (aux_write_lock(ob, err, sizeof err) != OUTBOX_OK)
        return;
    sqlite3_busy_timeout(ob->aux_db, OUTBOX_RESTART_WAIT_MS);
    int rc = sqlite3_wal_checkpoint_v2(ob->aux_db, NULL, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
    sqlite3_busy_timeout(ob->aux_db, OUTBOX_BUSY_TIMEOUT_MS);
    aux_write_unlock(ob);
    if (rc == SQLITE_OK)
        ob->wal_restarts++;
    else /* readers kept an old snapshot: no faster retry than the regular rounds */
        atomic_store(&ob->restart_retry_ms, time_mono_ms() + ob->maintain_interval_ms);
}

/* SQLite's commit hook for the WAL (the writer's connection): wakes the maintenance
 * thread once the WAL is large enough to need a restart checkpoint. It runs inside a
 * commit, which only the holder of write_lock makes, and takes mu; the one place that
 * holds mu while stepping on that connection (writer_take_posted) runs inside the
 * writer's own transaction, so the two never meet. */
static int on_wal_commit(void *opaque, sqlite3 *db, const char *name, int wal_frames)
{
    (void)db;
    (void)name;
    struct outbox *ob = opaque;
    if (wal_frames >= ob->wal_checkpoint_frames &&
        time_mono_ms() >= atomic_load(&ob->restart_retry_ms) &&
        !atomic_exchange(&ob->checkpoint_wanted, true)) {
        pthread_mutex_lock(&ob->mu);
        pthread_cond_signal(&ob->maintain_cond);
        pthread_mutex_unlock(&ob->mu);
    }
    return SQLITE_OK;
}

int outbox_maintain(struct outbox *ob, int max_rows, int64_t *pruned_out, char *errstr,
                    size_t errstr_size)
{
    return maintain(ob, max_rows, false, pruned_out, errstr, errstr_size);
}

static int segment_int(struct outbox *ob, int segment, enum segment_stmt which, int64_t *out,
                       char *errstr, size_t errstr_size)
{
    return step_int(ob, ob->db, ob->segment_stmts[segment][which], out, errstr, errstr_size);
}

/* Runs a delete on one segment with ?1 = a and ?2 = b; *changes gets the rows deleted. */
static int segment_delete(struct outbox *ob, int segment, enum segment_stmt which, int64_t a,
                          int64_t b, int *changes, char *errstr, size_t errstr_size)
{
    sqlite3_stmt *stmt = ob->segment_stmts[segment][which];
    int params = sqlite3_bind_parameter_count(stmt);
    if (params >= 1)
        sqlite3_bind_int64(stmt, 1, a);
    if (params >= 2)
        sqlite3_bind_int64(stmt, 2, b);
    int status = step_done(ob, ob->db, stmt, errstr, errstr_size);
    *changes = status == OUTBOX_OK ? sqlite3_changes(ob->db) : 0;
    return status;
}

/* Empties every segment but the writer's whose events all sinks have finished (seq <=
 * floor, the lowest cursor), and whose rows fit in max_rows (<= 0: any number); on the
 * writer's connection, under the write lock. */
static int truncate_finished_segments(struct outbox *ob, int64_t floor, int64_t max_rows,
                                      int *rows_out, char *errstr, size_t errstr_size)
{
    *rows_out = 0;
    int current = atomic_load(&ob->current_segment);
    for (int k = 0; k < OUTBOX_SEGMENTS; k++) {
        if (k == current)
            continue;
        int64_t newest = -1, rows = 0;
        int status = segment_int(ob, k, SEG_NEWEST, &newest, errstr, errstr_size);
        bool finished = status == OUTBOX_OK && newest >= 0 && newest <= floor;
        if (finished && max_rows > 0) {
            status = segment_int(ob, k, SEG_ROWS, &rows, errstr, errstr_size);
            finished = status == OUTBOX_OK && rows <= max_rows - *rows_out;
        }
        if (finished) {
            int changes = 0;
            status = segment_delete(ob, k, SEG_EMPTY, 0, 0, &changes, errstr, errstr_size);
            *rows_out += changes;
        }
        if (status != OUTBOX_OK)
            return status;
    }
    return OUTBOX_OK;
}

/* The lowest seq stored in the segments pruning may delete rows from (segment_mask bit k
 * set), -1 when there is none; on the writer's connection, under the write lock. */
static int oldest_seq(struct outbox *ob, unsigned segment_mask, int64_t *out, char *errstr,
                      size_t errstr_size)
{
    *out = -1;
    for (int k = 0; k < OUTBOX_SEGMENTS; k++) {
        if (!(segment_mask & (1u << k)))
            continue;
        int64_t oldest = -1;
        int status = segment_int(ob, k, SEG_OLDEST, &oldest, errstr, errstr_size);
        if (status != OUTBOX_OK)
            return status;
        if (oldest >= 0 && (*out < 0 || oldest < *out))
            *out = oldest;
    }
    return OUTBOX_OK;
}

/* Deletes rows up to upto (none when upto < 0) from the segments in segment_mask, then
 * (when reached_floor) up to what is left of batch of the rows kept for one sink only
 * that their sink has finished. */
static int delete_range(struct outbox *ob, unsigned segment_mask, int64_t upto, int64_t floor,
                        bool reached_floor, int batch, int *changes_out, int *targeted_out,
                        char *errstr, size_t errstr_size)
{
    int status = OUTBOX_OK;
    *changes_out = *targeted_out = 0;
    for (int k = 0; k < OUTBOX_SEGMENTS && status == OUTBOX_OK && upto >= 0; k++) {
        if (!(segment_mask & (1u << k)))
            continue;
        int changes = 0;
        status = segment_delete(ob, k, SEG_DELETE_UPTO, upto, 0, &changes, errstr,
                                errstr_size);
        *changes_out += changes;
    }
    for (int k = 0; k < OUTBOX_SEGMENTS && status == OUTBOX_OK && reached_floor; k++) {
        int room = batch - *changes_out - *targeted_out;
        if (room <= 0)
            break;
        if (!(segment_mask & (1u << k)))
            continue;
        int targeted = 0;
        status = segment_delete(ob, k, SEG_DELETE_TARGETED, floor, room, &targeted, errstr,
                                errstr_size);
        *targeted_out += targeted;
    }
    return status;
}

/* Rows a batch may delete in PRUNE_BATCH_TARGET_US, from the last batch that was large
 * enough to time; a quarter of the way towards each new measure, so one batch slowed by
 * the scheduler does not halve the next. */
static void learn_prune_rate(struct outbox *ob, int rows, int64_t took_us)
{
    if (rows < PRUNE_MIN_BATCH || took_us <= 0)
        return;
    int64_t measured = (int64_t)rows * PRUNE_BATCH_TARGET_US / took_us;
    int64_t next = (3 * (int64_t)ob->prune_rows_per_target + measured) / 4;
    ob->prune_rows_per_target = next < PRUNE_MIN_BATCH   ? PRUNE_MIN_BATCH
                                : next > PRUNE_MAX_BATCH ? PRUNE_MAX_BATCH
                                                         : (int)next;
}

/* If the writer asked for the lock while a batch held it, waits until it has it: taking
 * the lock straight back would starve the service loop. Its transaction then runs to
 * its commit before the next batch gets the lock. */
static void give_writer_its_turn(struct outbox *ob)
{
    struct timespec deadline = deadline_after(PRUNE_TURN_WAIT_MS);
    pthread_mutex_lock(&ob->mu);
    while (ob->writer_wants_lock && !ob->maintain_stop) {
        if (pthread_cond_timedwait(&ob->writer_turn_cond, &ob->mu, &deadline) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&ob->mu);
}

/* With a budget under OUTBOX_SPARE_SEGMENT_MIN_BUDGET, or past half the high-water mark,
 * the delivered rows of the writer's segment go row by row too: a segment may hold more
 * than a small max_bytes, and waiting for the writer to fill it raised the pressure flag
 * (and would have refused events) for rows already delivered. Usage is measured once a
 * round, so the margin must cover a round of appends. */
#define OUTBOX_SPARE_SEGMENT_MIN_BUDGET (64 * 1024 * 1024)
static bool budget_is_tight(const struct outbox *ob)
{
    return ob->max_bytes > 0 &&
           (ob->max_bytes < OUTBOX_SPARE_SEGMENT_MIN_BUDGET ||
            (double)atomic_load(&ob->used_bytes) >= (double)ob->max_bytes * ob->high_water / 2);
}

static int maintain(struct outbox *ob, int max_rows, bool yield_to_writer, int64_t *pruned_out,
                    char *errstr, size_t errstr_size)
{
    int64_t pruned = 0;
    int status = OUTBOX_OK;
    if (caller_is_writer_in_txn(ob)) {
        status = outbox_flush(ob, errstr, errstr_size);
        if (status != OUTBOX_OK)
            return status;
    }
    int64_t committed_before_turn = -1;
    /* No commit since the last round: the writer's segment may be pruned row by row. */
    int64_t committed_now = outbox_committed_seq(ob);
    bool writer_quiet = committed_now == ob->committed_at_last_round;
    if (yield_to_writer)
        ob->committed_at_last_round = committed_now;
    while (max_rows <= 0 || pruned < max_rows) {
        int64_t floor = -1;
        pthread_mutex_lock(&ob->aux_mu);
        status = min_cursor(ob, &floor, errstr, errstr_size);
        pthread_mutex_unlock(&ob->aux_mu);
        if (status != OUTBOX_OK || floor < 0)
            break;
        hot_drop_through(ob, floor);
        status = aux_write_lock(ob, errstr, errstr_size);
        if (status != OUTBOX_OK)
            break;
        int batch = OUTBOX_PRUNE_BATCH;
        if (yield_to_writer) {
            int64_t appended =
                committed_before_turn < 0 ? 0 : outbox_committed_seq(ob) - committed_before_turn;
            batch = ob->prune_rows_per_target;
            if (appended * 2 > batch)
                batch = appended * 2 > PRUNE_MAX_BATCH ? PRUNE_MAX_BATCH : (int)appended * 2;
        }
        int truncated = 0;
        status = truncate_finished_segments(ob, floor, max_rows > 0 ? max_rows - pruned : 0,
                                            &truncated, errstr, errstr_size);
        pruned += truncated;
        if (status != OUTBOX_OK || (max_rows > 0 && pruned >= max_rows)) {
            aux_write_unlock(ob);
            break;
        }
        if (max_rows > 0 && max_rows - pruned < batch)
            batch = (int)(max_rows - pruned);
        /* Under load the writer's own segment is left to be emptied whole once the
         * writer has moved on; rows are deleted one by one only from segments a slow sink
         * let grow, or once the writer has gone quiet. */
        unsigned segment_mask = (1u << OUTBOX_SEGMENTS) - 1;
        if (yield_to_writer && !writer_quiet && !budget_is_tight(ob))
            segment_mask &= ~(1u << atomic_load(&ob->current_segment));
        int64_t started_us = time_mono_us();
        int changes = 0, targeted = 0;
        /* One short transaction per batch keeps the writer's wait short. It goes through
         * the writer's connection: a write on another connection would make both
         * connections drop their page caches, and a cold cache made a batch take 10 ms.
         * A range from the oldest row deletes as the b-tree is walked; selecting the
         * batch's seqs first cost a third more. Gaps (rows pruned for their one target)
         * can make a range delete fewer rows than the batch without reaching the floor. */
        int64_t oldest = -1;
        status = oldest_seq(ob, segment_mask, &oldest, errstr, errstr_size);
        int64_t upto = floor;
        if (oldest >= 0 && oldest + batch - 1 < floor)
            upto = oldest + batch - 1;
        bool reached_floor = upto == floor;
        if (status == OUTBOX_OK)
            status = delete_range(ob, segment_mask, oldest >= 0 && oldest <= floor ? upto : -1,
                                  floor, reached_floor, batch, &changes, &targeted, errstr,
                                  errstr_size);
        int64_t took_us = time_mono_us() - started_us;
        if (yield_to_writer && status == OUTBOX_OK)
            learn_prune_rate(ob, changes + targeted, took_us);
        committed_before_turn = outbox_committed_seq(ob);
        aux_write_unlock(ob);
        pruned += changes + targeted;
        if (status != OUTBOX_OK || (reached_floor && changes + targeted < batch))
            break;
        if (yield_to_writer) {
            /* Pruning can chase a busy writer for many seconds; the WAL cannot wait. */
            if (atomic_load(&ob->checkpoint_wanted))
                checkpoint_wal(ob, true);
            give_writer_its_turn(ob);
        }
    }
    if (status == OUTBOX_OK) {
        checkpoint_wal(ob, yield_to_writer);
        pthread_mutex_lock(&ob->aux_mu);
        int64_t used = 0;
        status = measure_live_bytes(ob, ob->aux_db, NULL, &used, errstr, errstr_size);
        pthread_mutex_unlock(&ob->aux_mu);
        if (status == OUTBOX_OK)
            update_usage(ob, used);
    }
    if (pruned_out)
        *pruned_out = pruned;
    return status;
}

static void *maintain_main(void *arg)
{
    struct outbox *ob = arg;
    bool logged = false;
    pthread_setname_np(pthread_self(), "outbox-maint");
    pthread_mutex_lock(&ob->mu);
    while (!ob->maintain_stop) {
        struct timespec deadline = deadline_after((int)ob->maintain_interval_ms);
        if (!atomic_load(&ob->checkpoint_wanted))
            pthread_cond_timedwait(&ob->maintain_cond, &ob->mu, &deadline);
        if (ob->maintain_stop)
            break;
        pthread_mutex_unlock(&ob->mu);
        char err[512];
        int status = maintain(ob, 0, true, NULL, err, sizeof err);
        if (status != OUTBOX_OK && !logged)
            log_error("outbox", "maintenance: %s", err);
        logged = status != OUTBOX_OK;
        pthread_mutex_lock(&ob->mu);
    }
    pthread_mutex_unlock(&ob->mu);
    return NULL;
}

int outbox_sink_cursor(struct outbox *ob, const char *sink, int64_t *cursor_out, char *errstr,
                       size_t errstr_size)
{
    pthread_mutex_lock(&ob->query_mu);
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(ob->query_db, "SELECT seq FROM cursors WHERE sink = ?1", -1,
                                &stmt, NULL);
    int status = OUTBOX_OK;
    if (rc != SQLITE_OK) {
        status = sql_error(ob, ob->query_db, rc, "reading a cursor", errstr, errstr_size);
    } else {
        sqlite3_bind_text(stmt, 1, sink, -1, SQLITE_STATIC);
        rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW) {
            *cursor_out = sqlite3_column_int64(stmt, 0);
        } else if (rc == SQLITE_DONE) {
            errstr_set(errstr, errstr_size, "outbox %s: no sink named '%s'", ob->path, sink);
            status = OUTBOX_ERROR;
        } else {
            status = sql_error(ob, ob->query_db, rc, "reading a cursor", errstr, errstr_size);
        }
    }
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&ob->query_mu);
    return status;
}

int outbox_unregister_sink(struct outbox *ob, const char *sink, char *errstr,
                           size_t errstr_size)
{
    int status = aux_write_lock(ob, errstr, errstr_size);
    if (status != OUTBOX_OK)
        return status;
    status = aux_exec_bound(ob, "DELETE FROM cursors WHERE sink = ?3", 0, 0, sink,
                            NULL, errstr, errstr_size);
    aux_write_unlock(ob);
    return status;
}

/* ---- dead letters ------------------------------------------------------------------ */

int outbox_dead_letter_list(struct outbox *ob,
                            void (*fn)(void *opaque, const struct outbox_dead_letter *letter),
                            void *opaque, char *errstr, size_t errstr_size)
{
    pthread_mutex_lock(&ob->query_mu);
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(ob->query_db,
                                "SELECT id, sink, seq, event_id, type, subject, reason, dead_ms"
                                " FROM dead_letters ORDER BY id",
                                -1, &stmt, NULL);
    int status = OUTBOX_OK;
    if (rc != SQLITE_OK) {
        status = sql_error(ob, ob->query_db, rc, "listing dead letters", errstr, errstr_size);
    } else {
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            struct outbox_dead_letter letter = {
                .id = sqlite3_column_int64(stmt, 0),
                .sink = (const char *)sqlite3_column_text(stmt, 1),
                .seq = sqlite3_column_int64(stmt, 2),
                .event_id = (const char *)sqlite3_column_text(stmt, 3),
                .type = (const char *)sqlite3_column_text(stmt, 4),
                .subject = (const char *)sqlite3_column_text(stmt, 5),
                .reason = (const char *)sqlite3_column_text(stmt, 6),
                .dead_at_ms = sqlite3_column_int64(stmt, 7),
            };
            fn(opaque, &letter);
        }
        if (rc != SQLITE_DONE)
            status = sql_error(ob, ob->query_db, rc, "listing dead letters", errstr,
                               errstr_size);
    }
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&ob->query_mu);
    return status;
}

int outbox_dead_letter_replay(struct outbox *ob, const char *sink, const char *event_id,
                              int64_t *replayed_out, char *errstr, size_t errstr_size)
{
    int64_t replayed = 0;
    if (replayed_out)
        *replayed_out = 0;
    int status = outbox_flush(ob, errstr, errstr_size);
    if (status == OUTBOX_OK)
        status = writer_begin(ob, errstr, errstr_size);
    if (status != OUTBOX_OK)
        return status;
    sqlite3_stmt *select = NULL, *delete = NULL;
    int rc = sqlite3_prepare_v2(ob->db,
                                "SELECT id, sink, event_id, type, family, subject, source,"
                                " time_ms, data FROM dead_letters"
                                " WHERE (?1 IS NULL OR sink = ?1)"
                                " AND (?2 IS NULL OR event_id = ?2) ORDER BY id",
                                -1, &select, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(ob->db, "DELETE FROM dead_letters WHERE id = ?1", -1, &delete,
                                NULL);
    if (rc != SQLITE_OK) {
        status = sql_error(ob, ob->db, rc, "replaying dead letters", errstr, errstr_size);
        goto out;
    }
    bind_text(select, 1, sink);
    bind_text(select, 2, event_id);
    while ((rc = sqlite3_step(select)) == SQLITE_ROW) {
        int family = sqlite3_column_int(select, 4);
        struct relay_event event = {
            .id = (char *)sqlite3_column_text(select, 2),
            .type = (char *)sqlite3_column_text(select, 3),
            .family = (unsigned)family < EVENT_FAMILY_COUNT ? (enum event_family)family
                                                             : EVENT_FAMILY_STATE,
            .subject = (char *)sqlite3_column_text(select, 5),
            .source = (char *)sqlite3_column_text(select, 6),
            .time_ms = sqlite3_column_int64(select, 7),
            .data = (char *)sqlite3_column_text(select, 8),
        };
        status = insert_event(ob, &event, (const char *)sqlite3_column_text(select, 1), NULL,
                              errstr, errstr_size);
        if (status != OUTBOX_OK)
            goto out;
        sqlite3_bind_int64(delete, 1, sqlite3_column_int64(select, 0));
        status = step_done(ob, ob->db, delete, errstr, errstr_size);
        if (status != OUTBOX_OK)
            goto out;
        replayed++;
    }
    if (rc != SQLITE_DONE)
        status = sql_error(ob, ob->db, rc, "replaying dead letters", errstr, errstr_size);
out:
    sqlite3_finalize(select);
    sqlite3_finalize(delete);
    if (status != OUTBOX_OK) {
        if (ob->in_txn) {
            sqlite3_exec(ob->db, "ROLLBACK", NULL, NULL, NULL);
            writer_after_rollback(ob);
        }
        return status;
    }
    status = writer_commit(ob, errstr, errstr_size);
    if (status == OUTBOX_OK && replayed_out)
        *replayed_out = replayed;
    return status;
}

/* ---- readers ----------------------------------------------------------------------- */

struct outbox_reader *outbox_reader_create(struct outbox *ob, const char *sink, char *errstr,
                                           size_t errstr_size)
{
    if (!sink || !sink[0]) {
        errstr_set(errstr, errstr_size, "outbox %s: reader without a sink name", ob->path);
        return NULL;
    }
    struct outbox_reader *reader = calloc(1, sizeof *reader);
    if (!reader)
        abort();
    reader->ob = ob;
    reader->sink = xstrdup_or_empty(sink);
    if (open_connection(ob, &reader->db, errstr, errstr_size) != OUTBOX_OK)
        goto fail;
    int rc = sqlite3_prepare_v3(reader->db,
                                "SELECT seq, id, type, family, subject, source, time_ms, data"
                                " FROM events WHERE seq > ?1 AND (target IS NULL OR target = ?2)"
                                " ORDER BY seq LIMIT ?3",
                                -1, SQLITE_PREPARE_PERSISTENT, &reader->fetch, NULL);
    if (rc != SQLITE_OK) {
        sql_error(ob, reader->db, rc, "preparing the reader", errstr, errstr_size);
        goto fail;
    }
    if (aux_write_lock(ob, errstr, errstr_size) != OUTBOX_OK)
        goto fail;
    int status = aux_exec_bound(ob,
                                "INSERT INTO cursors(sink, seq, updated_ms) VALUES(?3, 0, ?1)"
                                " ON CONFLICT(sink) DO NOTHING",
                                time_now_ms(), 0, sink, NULL, errstr, errstr_size);
    aux_write_unlock(ob);
    if (status != OUTBOX_OK || outbox_sink_cursor(ob, sink, &reader->cursor, errstr,
                                                  errstr_size) != OUTBOX_OK)
        goto fail;

    pthread_mutex_lock(&ob->mu);
    size_t slot = 0;
    while (slot < ob->slot_count && strcmp(ob->slots[slot].sink, sink) != 0)
        slot++;
    if (slot == ob->slot_count) {
        struct cursor_slot *grown = realloc(ob->slots, (ob->slot_count + 1) * sizeof *grown);
        if (!grown)
            abort();
        ob->slots = grown;
        ob->slots[slot] = (struct cursor_slot){.sink = xstrdup_or_empty(sink)};
        ob->slot_count++;
    }
    struct cursor_slot *s = &ob->slots[slot];
    if (s->posted < reader->cursor)
        s->posted = reader->cursor;
    if (s->written < reader->cursor)
        s->written = s->writing = reader->cursor;
    if (reader->cursor < s->posted)
        reader->cursor = s->posted;
    reader->slot = slot;
    pthread_mutex_unlock(&ob->mu);

    pthread_mutex_lock(&ob->hot_mu);
    struct outbox_reader **readers =
        realloc(ob->hot_readers, (ob->hot_reader_count + 1) * sizeof *readers);
    if (!readers)
        abort();
    ob->hot_readers = readers;
    reader->hot_fetched = reader->hot_returned = reader->hot_scanned = reader->cursor;
    ob->hot_readers[ob->hot_reader_count++] = reader;
    pthread_mutex_unlock(&ob->hot_mu);
    return reader;

fail:
    outbox_reader_destroy(reader);
    return NULL;
}

void outbox_reader_destroy(struct outbox_reader *reader)
{
    if (!reader)
        return;
    struct outbox *ob = reader->ob;
    pthread_mutex_lock(&ob->hot_mu);
    for (size_t i = 0; i < ob->hot_reader_count; i++) {
        if (ob->hot_readers[i] == reader) {
            ob->hot_readers[i] = ob->hot_readers[--ob->hot_reader_count];
            hot_trim_fetched(ob);
            break;
        }
    }
    pthread_mutex_unlock(&ob->hot_mu);
    sqlite3_finalize(reader->fetch);
    sqlite3_close(reader->db);
    free(reader->sink);
    free(reader);
}

const char *outbox_reader_sink(const struct outbox_reader *reader) { return reader->sink; }
int64_t outbox_reader_cursor(const struct outbox_reader *reader) { return reader->cursor; }

/* A text column as it stands in the current row ("" for NULL), with its length. */
static const char *column_text(sqlite3_stmt *stmt, int column, size_t *len_out)
{
    const char *text = (const char *)sqlite3_column_text(stmt, column);
    *len_out = text ? (size_t)sqlite3_column_bytes(stmt, column) : 0;
    return text ? text : "";
}

/* The event of the reader's current row: its strings copied out of SQLite's row. */
static struct relay_event *row_event(sqlite3_stmt *stmt)
{
    struct relay_event_texts texts;
    texts.id = column_text(stmt, 1, &texts.id_len);
    texts.type = column_text(stmt, 2, &texts.type_len);
    texts.subject = column_text(stmt, 4, &texts.subject_len);
    texts.source = column_text(stmt, 5, &texts.source_len);
    int family = sqlite3_column_int(stmt, 3);
    size_t data_len = 0;
    const char *data = column_text(stmt, 7, &data_len);
    struct relay_event *event = relay_event_make(
        &texts, sqlite3_column_int64(stmt, 6),
        (unsigned)family < EVENT_FAMILY_COUNT ? (enum event_family)family : EVENT_FAMILY_STATE,
        xmemdup0(data, data_len), data_len);
    if (!event)
        abort(); /* every column the statement reads is NOT NULL */
    return event;
}

int outbox_reader_fetch(struct outbox_reader *reader, int64_t after_seq, int max,
                        struct outbox_record *records, int *count_out, char *errstr,
                        size_t errstr_size)
{
    *count_out = 0;
    int from_memory = hot_fetch(reader, after_seq, max, records);
    if (from_memory > 0) {
        atomic_fetch_add_explicit(&reader->rows_from_memory, (uint64_t)from_memory,
                                  memory_order_relaxed);
        *count_out = from_memory;
        return OUTBOX_OK;
    }
    sqlite3_stmt *stmt = reader->fetch;
    sqlite3_bind_int64(stmt, 1, after_seq);
    sqlite3_bind_text(stmt, 2, reader->sink, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 3, max);
    int rc = SQLITE_DONE, count = 0;
    while (count < max && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        records[count].seq = sqlite3_column_int64(stmt, 0);
        records[count].event = row_event(stmt);
        count++;
    }
    if (count < max && rc != SQLITE_DONE) {
        int status = sql_error(reader->ob, reader->db, rc, "reading events", errstr,
                               errstr_size);
        sqlite3_reset(stmt);
        outbox_records_free(records, count);
        return status;
    }
    sqlite3_reset(stmt);
    *count_out = count;
    if (count > 0) {
        atomic_fetch_add_explicit(&reader->rows_from_disk, (uint64_t)count,
                                  memory_order_relaxed);
        hot_note_fetched(reader, records[count - 1].seq);
    }
    return OUTBOX_OK;
}

uint64_t outbox_reader_rows_from_memory(const struct outbox_reader *reader)
{
    return atomic_load_explicit(&reader->rows_from_memory, memory_order_relaxed);
}

uint64_t outbox_reader_rows_from_disk(const struct outbox_reader *reader)
{
    return atomic_load_explicit(&reader->rows_from_disk, memory_order_relaxed);
}

uint64_t outbox_reader_full_scan_rows(const struct outbox_reader *reader)
{
    return (uint64_t)sqlite3_stmt_status(reader->fetch, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0);
}

void outbox_records_free(struct outbox_record *records, int count)
{
    for (int i = 0; i < count; i++) {
        relay_event_free(records[i].event);
        records[i].event = NULL;
    }
}

int outbox_reader_set_cursor(struct outbox_reader *reader, int64_t seq, char *errstr,
                             size_t errstr_size)
{
    struct outbox *ob = reader->ob;
    if (seq <= reader->cursor)
        return OUTBOX_OK;
    reader->cursor = seq;
    pthread_mutex_lock(&ob->mu);
    struct cursor_slot *slot = &ob->slots[reader->slot];
    if (seq > slot->posted) {
        slot->posted = seq;
        ob->posted_work = true;
    }
    pthread_mutex_unlock(&ob->mu);
    return OUTBOX_OK;
}

static struct relay_event *event_copy(const struct relay_event *event)
{
    return relay_event_create(event->id, event->type, event->source, event->subject,
                              event->time_ms, event->family, event->data);
}

int outbox_reader_dead_letter(struct outbox_reader *reader, int64_t seq,
                              const struct relay_event *event, const char *reason,
                              const struct relay_event *alert, char *errstr,
                              size_t errstr_size)
{
    struct outbox *ob = reader->ob;
    if (!event || !event->id || !event->type || !event->data) {
        errstr_set(errstr, errstr_size, "outbox %s: dead letter of an incomplete event",
                  ob->path);
        return OUTBOX_ERROR;
    }
    struct dead_letter_item *item = calloc(1, sizeof *item);
    if (!item)
        abort();
    item->sink = xstrdup_or_empty(reader->sink);
    item->seq = seq;
    item->event = event_copy(event);
    item->reason = xstrdup_or_empty(reason ? reason : "unspecified");
    item->alert = alert ? event_copy(alert) : NULL;
    item->dead_ms = time_now_ms();
    pthread_mutex_lock(&ob->mu);
    *ob->dead_queue_tail = item;
    ob->dead_queue_tail = &item->next;
    ob->posted_work = true;
    pthread_mutex_unlock(&ob->mu);
    return OUTBOX_OK;
}
