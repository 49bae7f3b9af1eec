/*
 * Standard Webhooks signing and verification (https://www.standardwebhooks.com), symmetric
 * scheme "v1": HMAC-SHA256 over "<msg-id>.<unix-seconds>.<body>", base64-encoded.
 *
 * Contract:
 *  - A keyring holds one or more secrets, each written "whsec_<base64>" (the key is the
 *    base64-decoded part, 24 to 512 bytes). Several keys exist for rotation: the sender
 *    signs with every key, the receiver accepts a message when any signature matches any
 *    of its keys.
 *  - webhook_sign() produces the value of the `webhook-signature` header: "v1,<sig>" per
 *    key, separated by single spaces, in keyring order.
 *  - webhook_verify() checks the three header values and the raw body; signatures are
 *    compared in constant time, tokens of other versions ("v1a,…") are ignored, and
 *    malformed input of any shape is rejected with a message, never crashes.
 *  - A keyring is immutable after creation and may be shared between threads.
 */
#ifndef CRELAY_PUBLISHERS_WEBHOOK_SIGN_H
#define CRELAY_PUBLISHERS_WEBHOOK_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "util/strbuf.h"

#define WEBHOOK_SIGN_MIN_KEY_BYTES 24
#define WEBHOOK_SIGN_MAX_KEY_BYTES 512
/* The replay window the standard recommends for receivers. */
#define WEBHOOK_SIGN_DEFAULT_TOLERANCE_S 300

struct webhook_keyring;

/* secrets: count strings "whsec_<base64>". Returns NULL with errstr naming the bad secret
 * by position (never echoing its value) when one is malformed or count is 0. */
struct webhook_keyring *webhook_keyring_create(const char *const *secrets, size_t count,
                                               char *errstr, size_t errstr_size);
void webhook_keyring_destroy(struct webhook_keyring *keyring);
size_t webhook_keyring_count(const struct webhook_keyring *keyring);

/* Appends the `webhook-signature` header value for this message to out. Returns 0, or -1
 * with errstr set when the crypto library fails or msg_id is empty. */
int webhook_sign(const struct webhook_keyring *keyring, const char *msg_id, int64_t timestamp_s,
                 const void *body, size_t body_len, struct strbuf *out, char *errstr,
                 size_t errstr_size);

/* Verifies a received message. timestamp_text and signature_header are the raw header
 * values (NULL when absent). now_s is the receiver's clock; tolerance_s < 0 skips the
 * replay-window check. Returns 0 when some v1 signature matches some key, -1 otherwise
 * with errstr saying why (missing header, bad timestamp, outside the window, no match). */
int webhook_verify(const struct webhook_keyring *keyring, const char *msg_id,
                   const char *timestamp_text, const char *signature_header, const void *body,
                   size_t body_len, int64_t now_s, int tolerance_s, char *errstr,
                   size_t errstr_size);

/* Strict RFC 4648 base64 decoding (standard alphabet, padding optional). Returns the
 * decoded length, or -1 when text is not base64 or out (out_size bytes) is too small. */
long webhook_base64_decode(const char *text, size_t text_len, unsigned char *out,
                           size_t out_size);

#endif
