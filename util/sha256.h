/*
 * SHA-256 for event ids and the audit chain. EVP_sha256() makes OpenSSL 3 look the
 * algorithm up in its provider store on every EVP_DigestInit (3-4 % of the service
 * loop under load); this fetches it once per process.
 *
 * Contract: sha256_md() returns the same EVP_MD for the life of the process, from any
 * thread; it aborts when OpenSSL has no SHA-256 (a broken installation, not an input
 * error). The reference is released at exit, before OpenSSL's own cleanup.
 */
#ifndef CRELAY_UTIL_SHA256_H
#define CRELAY_UTIL_SHA256_H

#include <openssl/evp.h>

const EVP_MD *sha256_md(void);

/* A digest context of the calling thread, for one digest at a time: initialize it with
 * EVP_DigestInit_ex2() and finish before the next use. Event ids are derived a few
 * times per notification, and a context each was an allocation and a free each time.
 * A thread's context is freed when it exits (the exiting process's at exit). */
EVP_MD_CTX *sha256_thread_context(void);

#endif
