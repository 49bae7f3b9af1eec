#include "util/sha256.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_once_t fetched = PTHREAD_ONCE_INIT;
static EVP_MD *sha256;

static void release(void)
{
    EVP_MD_free(sha256);
    sha256 = NULL;
}

static void fetch(void)
{
    sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (!sha256) {
        fprintf(stderr, "campaign-relay: OpenSSL provides no SHA-256\n");
        abort();
    }
    /* Registered after OpenSSL initialized, so it runs before OpenSSL's cleanup. */
    atexit(release);
}

const EVP_MD *sha256_md(void)
{
    pthread_once(&fetched, fetch);
    return sha256;
}
