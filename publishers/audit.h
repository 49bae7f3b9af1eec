/*
 * The audit hash chain. Every audit event (audit.notification, audit.action) carries
 * `prevHash` and `hash` in its data object:
 *
 *   hash = lowercase hex of SHA-256( prevHash || "\n" || canonical(data without "hash") )
 *
 * canonical() is a re-serialization a verifier can reproduce from the parsed JSON
 * whatever tool wrote it: no whitespace; object members sorted by the bytes of their
 * UTF-8 keys; strings with only '"', '\\' and control characters escaped (\b \f \n \r
 * \t, others as \u00XX) and everything else as raw UTF-8; integral numbers with
 * |n| <= 2^53 in plain decimal, other numbers as C's "%.17g"; true, false, null.
 * Duplicate keys are an error. The first event's prevHash is AUDIT_GENESIS_HASH.
 *
 * Contract: the chain head lives in the outbox metadata (key "audit.head") and is
 * written in the same transaction as the event that advances it (staged with
 * outbox_meta_stage(), so it is written once per commit, not once per event), so a
 * crash cannot fork the chain. A chain belongs to the outbox's writer thread. When the
 * outbox rolls a transaction back, the next seal reloads the head from the database.
 *
 * The relay seals from the data text the event builders wrote
 * (audit_chain_append_event): the canonical form is computed from the text in one
 * pass, without building a JSON tree, and gives the same bytes as the tree-based
 * audit_canonical_json() the verifier uses.
 */
#ifndef CRELAY_PUBLISHERS_AUDIT_H
#define CRELAY_PUBLISHERS_AUDIT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "publishers/outbox.h"
#include "util/strbuf.h"

#define AUDIT_HASH_HEX_LEN 64
#define AUDIT_GENESIS_HASH "0000000000000000000000000000000000000000000000000000000000000000"
#define AUDIT_HEAD_META_KEY "audit.head"

struct audit_chain;
struct audit_seal_prep;

/* Loads the head from the outbox (genesis for a new outbox). */
struct audit_chain *audit_chain_create(struct outbox *ob, char *errstr, size_t errstr_size);
void audit_chain_destroy(struct audit_chain *chain);
const char *audit_chain_head(const struct audit_chain *chain);

/* Sets data.prevHash and data.hash (replacing any present), stages the new head in
 * the outbox's open transaction and advances the head. The caller appends the event
 * right after; audit_chain_append() does both and undoes the seal if the append is
 * refused. Returns an OUTBOX_* status. */
int audit_chain_seal(struct audit_chain *chain, cJSON *data, char *errstr, size_t errstr_size);

/* Seals data and appends the audit event built from it. */
int audit_chain_append(struct audit_chain *chain, const char *id, const char *type,
                       const char *source, const char *subject, int64_t time_ms, cJSON *data,
                       int64_t *seq_out, char *errstr, size_t errstr_size);

/* Seals event->data (JSON object text without prevHash and hash members: the
 * builders' output) and appends the event with the sealed data. Nothing is parsed
 * into a tree. A layout the event carries (event->seal, prepared off the chain) gives
 * its sealed text to the stored event, which the outbox keeps by reference; a second
 * append of the same event seals it again from its data. Undoes the seal if the append
 * is refused. Returns an OUTBOX_* status; malformed data is OUTBOX_ERROR with errstr
 * saying what is wrong. */
int audit_chain_append_event(struct audit_chain *chain, const struct relay_event *event,
                             int64_t *seq_out, char *errstr, size_t errstr_size);

/* Sealing in two steps. Everything but the hashes depends on the data alone: the
 * canonical form and the sealed text, laid out with room for prevHash and hash.
 * audit_seal_prepare() computes that on any thread (it shares nothing); an event
 * carrying it in event->seal is sealed by audit_chain_append_event() with a copy of the
 * head into both and one SHA-256, the same bytes as without it. Returns NULL with errstr
 * set when the data cannot be sealed (the chain would refuse it the same way). */
struct audit_seal_prep *audit_seal_prepare(const char *data, char *errstr, size_t errstr_size);
/* The same for data one of whose top-level members the caller has parsed already: the
 * value of key is the value_len bytes right after its colon, and value is their tree
 * as cJSON reads them (util/json_parse), with nothing but white space after the value.
 * Its canonical form is written from the tree, which is what the verifier does, instead
 * of being read from the text again. The caller must not pass a tree with a string cut
 * short by a \u escape reading as U+0000: the text would be refused, the tree would
 * seal less than the text says. A value whose text does not start as the tree's does
 * (a byte order mark) is canonicalized from the text, which refuses it. */
struct audit_seal_prep *audit_seal_prepare_tree(const char *data, const char *key,
                                                size_t value_len, const cJSON *value,
                                                char *errstr, size_t errstr_size);
void audit_seal_prep_free(struct audit_seal_prep *prep);
/* What a prep holds, AUDIT_GENESIS_HASH standing in for both hashes: the sealed data
 * text, and the canonical form its hash is taken over. For checks; the chain uses them
 * itself. */
const char *audit_seal_prep_sealed(const struct audit_seal_prep *prep, size_t *len);
const char *audit_seal_prep_canonical(const struct audit_seal_prep *prep, size_t *len);

/* ---- verification ---------------------------------------------------------------- */

/* Appends canonical(item); skip_key (may be NULL) is left out of a top-level object.
 * Returns 0, or -1 with errstr set (duplicate key, non-finite number). */
int audit_canonical_json(const cJSON *item, const char *skip_key, struct strbuf *out,
                         char *errstr, size_t errstr_size);

/* canonical() of JSON text: the same bytes as audit_canonical_json(cJSON_Parse(text)),
 * written in one pass without a tree. *skipped_out (may be NULL) tells whether
 * skip_key occurred at the top level. Returns 0, or -1 with errstr set (syntax error
 * with its offset, duplicate key, non-finite number, NUL in a string, nesting deeper
 * than cJSON accepts). */
int audit_canonical_text(const char *text, size_t len, const char *skip_key, bool *skipped_out,
                         struct strbuf *out, char *errstr, size_t errstr_size);

/* Computes the hash of data (its "hash" member ignored) chained after prev_hash. */
int audit_compute_hash(const char *prev_hash, const cJSON *data,
                       char out[AUDIT_HASH_HEX_LEN + 1], char *errstr, size_t errstr_size);

enum audit_link_result {
    AUDIT_LINK_OK = 0,
    AUDIT_LINK_MALFORMED,     /* not an object, prevHash/hash missing or not 64 hex */
    AUDIT_LINK_HASH_MISMATCH, /* the content does not hash to the recorded hash */
};

/* Checks that data's recorded hash matches its content; errstr says what is wrong. */
enum audit_link_result audit_check_link(const cJSON *data, char *errstr, size_t errstr_size);

/* Verifies the audit events of a JSONL stream, one event per line: the file sink's
 * structured CloudEvents, a Kafka dump line ({"topic","key","headers","value":"<data
 * JSON text>"}, the type taken from headers.ce_type when present) or the bare data
 * object. Other event types are skipped. Each audit event must hash correctly and
 * name the previous one's hash as prevHash; a line repeating an event already verified
 * (at-least-once delivery) is counted as a duplicate and skipped. The first event may
 * start after genesis (rotated files) unless require_genesis. Lines must be in the
 * order the relay produced them (merge multi-partition dumps by time first). */
struct audit_verify_result {
    int64_t events;     /* distinct audit events verified */
    int64_t duplicates; /* repeated lines skipped */
    int64_t lines;
    char first_prev[AUDIT_HASH_HEX_LEN + 1]; /* prevHash of the first event */
    char head[AUDIT_HASH_HEX_LEN + 1];       /* hash of the last event */
};

/* Returns 0 when the chain holds, 1 at the first broken link (errstr is
 * "NAME:LINE: broken link: why"), -1 when the stream cannot be read. */
int audit_verify_stream(FILE *in, const char *name, bool require_genesis,
                        struct audit_verify_result *result, char *errstr, size_t errstr_size);

#endif
