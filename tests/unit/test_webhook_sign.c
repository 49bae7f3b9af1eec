/* Unit tests for publishers/webhook_sign: the Standard Webhooks known answer, key rotation,
 * tampering, the replay window, and malformed secrets and headers. */
#include "tests/harness.h"

#include "publishers/webhook_sign.h"

/* The test vector published with the Standard Webhooks reference libraries. */
#define KAT_SECRET    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define KAT_MSG_ID    "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define KAT_TIMESTAMP 1614265330
#define KAT_PAYLOAD   "{\"test\": 2432232314}"
#define KAT_SIGNATURE "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

/* Two further 32-byte keys for rotation. */
#define SECRET_OLD "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define SECRET_NEW "whsec_ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="

static struct webhook_keyring *keyring_of(const char *a, const char *b)
{
    const char *secrets[2] = {a, b};
    char err[256] = "";
    struct webhook_keyring *keyring = webhook_keyring_create(secrets, b ? 2 : 1, err,
                                                             sizeof err);
    if (!keyring)
        printf("#   keyring_create: %s\n", err);
    return keyring;
}

static int verify(const struct webhook_keyring *keyring, const char *id, const char *ts,
                  const char *sig, const char *body, int64_t now, char *err, size_t err_size)
{
    return webhook_verify(keyring, id, ts, sig, body, strlen(body), now, 300, err, err_size);
}

static void test_known_answer_matches_reference_vector(void)
{
    struct webhook_keyring *keyring = keyring_of(KAT_SECRET, NULL);
    REQUIRE(keyring);
    struct strbuf sig;
    strbuf_init(&sig);
    char err[256] = "";
    CHECK_EQ_INT(webhook_sign(keyring, KAT_MSG_ID, KAT_TIMESTAMP, KAT_PAYLOAD,
                              strlen(KAT_PAYLOAD), &sig, err, sizeof err),
                 0);
    CHECK_EQ_STR(strbuf_cstr(&sig), KAT_SIGNATURE);
    CHECK_EQ_INT(verify(keyring, KAT_MSG_ID, "1614265330", KAT_SIGNATURE, KAT_PAYLOAD,
                        KAT_TIMESTAMP + 10, err, sizeof err),
                 0);
    strbuf_free(&sig);
    webhook_keyring_destroy(keyring);
}

static void test_rotation_signs_with_every_key(void)
{
    struct webhook_keyring *both = keyring_of(SECRET_OLD, SECRET_NEW);
    struct webhook_keyring *old_only = keyring_of(SECRET_OLD, NULL);
    struct webhook_keyring *new_only = keyring_of(SECRET_NEW, NULL);
    struct webhook_keyring *other = keyring_of(KAT_SECRET, NULL);
    REQUIRE(both && old_only && new_only && other);
    CHECK_EQ_INT(webhook_keyring_count(both), 2);

    const char *body = "{\"specversion\":\"1.0\",\"id\":\"evt-1\"}";
    struct strbuf sig, sig_old, sig_new;
    strbuf_init(&sig);
    strbuf_init(&sig_old);
    strbuf_init(&sig_new);
    char err[256] = "";
    CHECK_EQ_INT(webhook_sign(both, "evt-1", 1700000000, body, strlen(body), &sig, err,
                              sizeof err), 0);
    CHECK_EQ_INT(webhook_sign(old_only, "evt-1", 1700000000, body, strlen(body), &sig_old, err,
                              sizeof err), 0);
    CHECK_EQ_INT(webhook_sign(new_only, "evt-1", 1700000000, body, strlen(body), &sig_new, err,
                              sizeof err), 0);
    /* Two signatures, in keyring order, separated by one space. */
    struct strbuf expected;
    strbuf_init(&expected);
    strbuf_appendf(&expected, "%s %s", strbuf_cstr(&sig_old), strbuf_cstr(&sig_new));
    CHECK_EQ_STR(strbuf_cstr(&sig), strbuf_cstr(&expected));
    CHECK(strcmp(strbuf_cstr(&sig_old), strbuf_cstr(&sig_new)) != 0);

    /* A receiver that knows only one of the keys accepts the message. */
    CHECK_EQ_INT(verify(old_only, "evt-1", "1700000000", strbuf_cstr(&sig), body, 1700000001,
                        err, sizeof err), 0);
    CHECK_EQ_INT(verify(new_only, "evt-1", "1700000000", strbuf_cstr(&sig), body, 1700000001,
                        err, sizeof err), 0);
    /* A receiver that knows neither rejects it. */
    CHECK_EQ_INT(verify(other, "evt-1", "1700000000", strbuf_cstr(&sig), body, 1700000001, err,
                        sizeof err), -1);
    CHECK_CONTAINS(err, "no signature matches");
    /* A sender still on the old key is accepted by a receiver holding both. */
    CHECK_EQ_INT(verify(both, "evt-1", "1700000000", strbuf_cstr(&sig_old), body, 1700000001,
                        err, sizeof err), 0);

    strbuf_free(&sig);
    strbuf_free(&sig_old);
    strbuf_free(&sig_new);
    strbuf_free(&expected);
    webhook_keyring_destroy(both);
    webhook_keyring_destroy(old_only);
    webhook_keyring_destroy(new_only);
    webhook_keyring_destroy(other);
}

static void test_tampering_is_detected(void)
{
    struct webhook_keyring *keyring = keyring_of(KAT_SECRET, NULL);
    REQUIRE(keyring);
    char err[256] = "";
    int64_t now = KAT_TIMESTAMP;
    CHECK_EQ_INT(verify(keyring, KAT_MSG_ID, "1614265330", KAT_SIGNATURE,
                        "{\"test\": 2432232315}", now, err, sizeof err), -1);
    CHECK_CONTAINS(err, "no signature matches");
    CHECK_EQ_INT(verify(keyring, KAT_MSG_ID, "1614265331", KAT_SIGNATURE, KAT_PAYLOAD, now, err,
                        sizeof err), -1);
    CHECK_EQ_INT(verify(keyring, "msg_other", "1614265330", KAT_SIGNATURE, KAT_PAYLOAD, now,
                        err, sizeof err), -1);
    /* One flipped character of the signature. */
    CHECK_EQ_INT(verify(keyring, KAT_MSG_ID, "1614265330",
                        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF=", KAT_PAYLOAD, now, err,
                        sizeof err), -1);
    /* The right signature under another version tag does not count. */
    CHECK_EQ_INT(verify(keyring, KAT_MSG_ID, "1614265330",
                        "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", KAT_PAYLOAD, now, err,
                        sizeof err), -1);
    CHECK_CONTAINS(err, "no v1 signature");
    /* Among several tokens, one valid signature suffices. */
    CHECK_EQ_INT(verify(keyring, KAT_MSG_ID, "1614265330",
                        "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v1a,xyz  " KAT_SIGNATURE,
                        KAT_PAYLOAD, now, err, sizeof err), 0);
    webhook_keyring_destroy(keyring);
}

static void test_replay_window_is_enforced(void)
{
    struct webhook_keyring *keyring = keyring_of(KAT_SECRET, NULL);
    REQUIRE(keyring);
    char err[256] = "";
    CHECK_EQ_INT(verify(keyring, KAT_MSG_ID, "1614265330", KAT_SIGNATURE, KAT_PAYLOAD,
                        KAT_TIMESTAMP + 301, err, sizeof err), -1);
    CHECK_CONTAINS(err, "outside the 300 s window");
    CHECK_EQ_INT(verify(keyring, KAT_MSG_ID, "1614265330", KAT_SIGNATURE, KAT_PAYLOAD,
                        KAT_TIMESTAMP - 301, err, sizeof err), -1);
    CHECK_EQ_INT(verify(keyring, KAT_MSG_ID, "1614265330", KAT_SIGNATURE, KAT_PAYLOAD,
                        KAT_TIMESTAMP + 300, err, sizeof err), 0);
    /* A negative tolerance turns the window off. */
    CHECK_EQ_INT(webhook_verify(keyring, KAT_MSG_ID, "1614265330", KAT_SIGNATURE, KAT_PAYLOAD,
                                strlen(KAT_PAYLOAD), KAT_TIMESTAMP + 86400, -1, err, sizeof err),
                 0);
    webhook_keyring_destroy(keyring);
}

static void test_malformed_headers_are_rejected(void)
{
    struct webhook_keyring *keyring = keyring_of(KAT_SECRET, NULL);
    REQUIRE(keyring);
    char err[256] = "";
    int64_t now = KAT_TIMESTAMP;
    CHECK_EQ_INT(verify(keyring, NULL, "1614265330", KAT_SIGNATURE, KAT_PAYLOAD, now, err,
                        sizeof err), -1);
    CHECK_CONTAINS(err, "missing webhook-id");
    CHECK_EQ_INT(webhook_verify(keyring, KAT_MSG_ID, NULL, KAT_SIGNATURE, KAT_PAYLOAD, 5, now,
                                300, err, sizeof err), -1);
    CHECK_CONTAINS(err, "missing webhook-timestamp");
    CHECK_EQ_INT(webhook_verify(keyring, KAT_MSG_ID, "1614265330", NULL, KAT_PAYLOAD, 5, now,
                                300, err, sizeof err), -1);
    CHECK_CONTAINS(err, "missing webhook-signature");
    const char *bad_timestamps[] = {"", "12a", "-5", " 1614265330", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad_timestamps / sizeof *bad_timestamps; i++) {
        CHECK_EQ_INT(verify(keyring, KAT_MSG_ID, bad_timestamps[i], KAT_SIGNATURE, KAT_PAYLOAD,
                            now, err, sizeof err), -1);
        CHECK_CONTAINS(err, "webhook-timestamp");
    }
    const char *bad_signatures[] = {"v1,", "v1", ",,,", "v1,!!!!", "v1,AAAA", "   ",
                                    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=="};
    for (size_t i = 0; i < sizeof bad_signatures / sizeof *bad_signatures; i++)
        CHECK_EQ_INT(verify(keyring, KAT_MSG_ID, "1614265330", bad_signatures[i], KAT_PAYLOAD,
                            now, err, sizeof err), -1);
    webhook_keyring_destroy(keyring);
}

static void test_malformed_secrets_are_rejected(void)
{
    char err[256] = "";
    const char *no_prefix[] = {"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"};
    CHECK(webhook_keyring_create(no_prefix, 1, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "secret #1");
    CHECK_CONTAINS(err, "whsec_");

    const char *not_base64[] = {SECRET_OLD, "whsec_not*base64*at*all*but*long*enough"};
    CHECK(webhook_keyring_create(not_base64, 2, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "secret #2");
    CHECK_CONTAINS(err, "base64");
    /* The error never echoes the secret itself. */
    CHECK(strstr(err, "not*base64") == NULL);

    const char *too_short[] = {"whsec_c2hvcnQ="};
    CHECK(webhook_keyring_create(too_short, 1, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "5 bytes");

    CHECK(webhook_keyring_create(NULL, 0, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "no webhook secret");
    webhook_keyring_destroy(NULL);
}

static void test_base64_decoder_is_strict(void)
{
    unsigned char out[16];
    CHECK_EQ_INT(webhook_base64_decode("aGVsbG8=", 8, out, sizeof out), 5);
    CHECK(memcmp(out, "hello", 5) == 0);
    CHECK_EQ_INT(webhook_base64_decode("aGVsbG8", 7, out, sizeof out), 5);
    CHECK_EQ_INT(webhook_base64_decode("", 0, out, sizeof out), 0);
    CHECK_EQ_INT(webhook_base64_decode("aGVsbG9=", 8, out, sizeof out), -1); /* stray bits */
    CHECK_EQ_INT(webhook_base64_decode("a", 1, out, sizeof out), -1);
    CHECK_EQ_INT(webhook_base64_decode("aGV-bG8=", 8, out, sizeof out), -1);
    CHECK_EQ_INT(webhook_base64_decode("aGVsbG8=", 8, out, 4), -1);
}

int main(void)
{
    RUN(test_known_answer_matches_reference_vector);
    RUN(test_rotation_signs_with_every_key);
    RUN(test_tampering_is_detected);
    RUN(test_replay_window_is_enforced);
    RUN(test_malformed_headers_are_rejected);
    RUN(test_malformed_secrets_are_rejected);
    RUN(test_base64_decoder_is_strict);
    return harness_finish();
}
