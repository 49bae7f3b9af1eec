#include "publishers/webhook_sign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#define SECRET_PREFIX "whsec_"
#define HMAC_SHA256_BYTES 32
/* base64 of 32 bytes: 44 characters plus the terminator. */
#define SIGNATURE_B64_SIZE 45

struct webhook_key {
    unsigned char bytes[WEBHOOK_SIGN_MAX_KEY_BYTES];
    size_t len;
};

struct webhook_keyring {
    EVP_MAC *mac;
    struct webhook_key *keys;
    size_t count;
};

static int base64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

long webhook_base64_decode(const char *text, size_t text_len, unsigned char *out,
                           size_t out_size)
{
    size_t len = text_len;
    size_t padding = 0;
    while (len > 0 && text[len - 1] == '=' && padding < 2) {
        len--;
        padding++;
    }
    if (padding > 0 && (len + padding) % 4 != 0)
        return -1;
    if (len % 4 == 1)
        return -1;

    size_t written = 0;
    uint32_t accumulator = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int value = base64_value((unsigned char)text[i]);
        if (value < 0)
            return -1;
        accumulator = (accumulator << 6) | (uint32_t)value;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (written >= out_size)
                return -1;
            out[written++] = (unsigned char)(accumulator >> bits);
            accumulator &= (1u << bits) - 1;
        }
    }
    /* Leftover bits must be zero, or the text was not produced by an encoder. */
    if (accumulator != 0)
        return -1;
    return (long)written;
}

struct webhook_keyring *webhook_keyring_create(const char *const *secrets, size_t count,
                                               char *errstr, size_t errstr_size)
{
    if (!secrets || count == 0) {
        snprintf(errstr, errstr_size, "no webhook secret given");
        return NULL;
    }
    struct webhook_keyring *keyring = calloc(1, sizeof *keyring);
    if (!keyring)
        abort();
    keyring->keys = calloc(count, sizeof *keyring->keys);
    if (!keyring->keys)
        abort();
    keyring->count = count;

    for (size_t i = 0; i < count; i++) {
        const char *secret = secrets[i];
        size_t prefix_len = strlen(SECRET_PREFIX);
        if (!secret || strncmp(secret, SECRET_PREFIX, prefix_len) != 0) {
            snprintf(errstr, errstr_size,
                     "webhook secret #%zu: expected the form whsec_<base64>", i + 1);
            goto fail;
        }
        const char *encoded = secret + prefix_len;
        long decoded = webhook_base64_decode(encoded, strlen(encoded), keyring->keys[i].bytes,
                                             sizeof keyring->keys[i].bytes);
        if (decoded < 0) {
            snprintf(errstr, errstr_size,
                     "webhook secret #%zu: the part after whsec_ is not valid base64 "
                     "(or decodes to more than %d bytes)",
                     i + 1, WEBHOOK_SIGN_MAX_KEY_BYTES);
            goto fail;
        }
        if (decoded < WEBHOOK_SIGN_MIN_KEY_BYTES) {
            snprintf(errstr, errstr_size,
                     "webhook secret #%zu: key is %ld bytes, at least %d are required", i + 1,
                     decoded, WEBHOOK_SIGN_MIN_KEY_BYTES);
            goto fail;
        }
        keyring->keys[i].len = (size_t)decoded;
    }

    keyring->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!keyring->mac) {
        snprintf(errstr, errstr_size, "the crypto library offers no HMAC implementation");
        goto fail;
    }
    return keyring;

fail:
    webhook_keyring_destroy(keyring);
    return NULL;
}

void webhook_keyring_destroy(struct webhook_keyring *keyring)
{
    if (!keyring)
        return;
    if (keyring->keys) {
        OPENSSL_cleanse(keyring->keys, keyring->count * sizeof *keyring->keys);
        free(keyring->keys);
    }
    EVP_MAC_free(keyring->mac);
    free(keyring);
}

size_t webhook_keyring_count(const struct webhook_keyring *keyring)
{
    return keyring ? keyring->count : 0;
}

static int compute_hmac(const struct webhook_keyring *keyring, const struct webhook_key *key,
                        const char *msg_id, const char *timestamp_text, const void *body,
                        size_t body_len, unsigned char digest[HMAC_SHA256_BYTES])
{
    char digest_name[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
        OSSL_PARAM_construct_end(),
    };
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(keyring->mac);
    if (!ctx)
        return -1;
    size_t out_len = 0;
    int ok = EVP_MAC_init(ctx, key->bytes, key->len, params) &&
             EVP_MAC_update(ctx, (const unsigned char *)msg_id, strlen(msg_id)) &&
             EVP_MAC_update(ctx, (const unsigned char *)".", 1) &&
             EVP_MAC_update(ctx, (const unsigned char *)timestamp_text, strlen(timestamp_text)) &&
             EVP_MAC_update(ctx, (const unsigned char *)".", 1) &&
             (body_len == 0 || EVP_MAC_update(ctx, body, body_len)) &&
             EVP_MAC_final(ctx, digest, &out_len, HMAC_SHA256_BYTES) &&
             out_len == HMAC_SHA256_BYTES;
    EVP_MAC_CTX_free(ctx);
    return ok ? 0 : -1;
}

int webhook_sign(const struct webhook_keyring *keyring, const char *msg_id, int64_t timestamp_s,
                 const void *body, size_t body_len, struct strbuf *out, char *errstr,
                 size_t errstr_size)
{
    if (!keyring || !msg_id || !msg_id[0]) {
        snprintf(errstr, errstr_size, "cannot sign a webhook without a message id");
        return -1;
    }
    char timestamp_text[24];
    snprintf(timestamp_text, sizeof timestamp_text, "%lld", (long long)timestamp_s);
    for (size_t i = 0; i < keyring->count; i++) {
        unsigned char digest[HMAC_SHA256_BYTES];
        if (compute_hmac(keyring, &keyring->keys[i], msg_id, timestamp_text, body, body_len,
                         digest) != 0) {
            snprintf(errstr, errstr_size, "HMAC-SHA256 computation failed");
            return -1;
        }
        char encoded[SIGNATURE_B64_SIZE];
        EVP_EncodeBlock((unsigned char *)encoded, digest, HMAC_SHA256_BYTES);
        if (i > 0)
            strbuf_append_char(out, ' ');
        strbuf_append(out, "v1,");
        strbuf_append(out, encoded);
    }
    return 0;
}

/* Parses a decimal unix-seconds value with nothing around it. */
static int parse_timestamp(const char *text, int64_t *out)
{
    if (!text || !text[0] || strlen(text) > 18)
        return -1;
    int64_t value = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        value = value * 10 + (*p - '0');
    }
    *out = value;
    return 0;
}

int webhook_verify(const struct webhook_keyring *keyring, const char *msg_id,
                   const char *timestamp_text, const char *signature_header, const void *body,
                   size_t body_len, int64_t now_s, int tolerance_s, char *errstr,
                   size_t errstr_size)
{
    if (!keyring) {
        snprintf(errstr, errstr_size, "no keyring to verify with");
        return -1;
    }
    if (!msg_id || !msg_id[0]) {
        snprintf(errstr, errstr_size, "missing webhook-id header");
        return -1;
    }
    if (!timestamp_text) {
        snprintf(errstr, errstr_size, "missing webhook-timestamp header");
        return -1;
    }
    if (!signature_header || !signature_header[0]) {
        snprintf(errstr, errstr_size, "missing webhook-signature header");
        return -1;
    }
    int64_t timestamp;
    if (parse_timestamp(timestamp_text, &timestamp) != 0) {
        snprintf(errstr, errstr_size, "webhook-timestamp is not a unix time in seconds");
        return -1;
    }
    if (tolerance_s >= 0) {
        int64_t skew = now_s - timestamp;
        if (skew > tolerance_s || skew < -(int64_t)tolerance_s) {
            snprintf(errstr, errstr_size,
                     "webhook-timestamp is %lld s away from now, outside the %d s window",
                     (long long)skew, tolerance_s);
            return -1;
        }
    }

    size_t key_count = keyring->count;
    unsigned char (*digests)[HMAC_SHA256_BYTES] = calloc(key_count, HMAC_SHA256_BYTES);
    if (!digests)
        abort();
    for (size_t k = 0; k < key_count; k++) {
        if (compute_hmac(keyring, &keyring->keys[k], msg_id, timestamp_text, body, body_len,
                         digests[k]) != 0) {
            free(digests);
            snprintf(errstr, errstr_size, "HMAC-SHA256 computation failed");
            return -1;
        }
    }

    int matched = 0;
    int v1_tokens = 0;
    const char *cursor = signature_header;
    while (*cursor && !matched) {
        while (*cursor == ' ')
            cursor++;
        const char *token = cursor;
        while (*cursor && *cursor != ' ')
            cursor++;
        size_t token_len = (size_t)(cursor - token);
        if (token_len < 3 || strncmp(token, "v1,", 3) != 0)
            continue;
        v1_tokens++;
        unsigned char received[HMAC_SHA256_BYTES + 3];
        long received_len = webhook_base64_decode(token + 3, token_len - 3, received,
                                                  sizeof received);
        if (received_len != HMAC_SHA256_BYTES)
            continue;
        for (size_t k = 0; k < key_count && !matched; k++)
            matched = CRYPTO_memcmp(received, digests[k], HMAC_SHA256_BYTES) == 0;
    }
    OPENSSL_cleanse(digests, key_count * HMAC_SHA256_BYTES);
    free(digests);
    if (matched)
        return 0;
    if (v1_tokens == 0)
        snprintf(errstr, errstr_size, "webhook-signature holds no v1 signature");
    else
        snprintf(errstr, errstr_size, "no signature matches any key");
    return -1;
}
