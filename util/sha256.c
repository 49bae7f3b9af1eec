#include "util/sha256.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_once_t fetched = PTHREAD_ONCE_INIT;
static EVP_MD *sha256;
static pthread_key_t thread_context;

static void free_context(void *context)
{
    EVP_MD_CTX_free(context);
}

static void release(void)
{
    /* Thread exit frees the other threads' contexts; exit() runs this on the thread
     * that exits, whose context no destructor would free. */
    free_context(pthread_getspecific(thread_context));
    pthread_setspecific(thread_context, NULL);
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
    if (pthread_key_create(&thread_context, free_context) != 0) {
        fprintf(stderr, "campaign-relay: no thread-specific key for digest contexts\n");
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

EVP_MD_CTX *sha256_thread_context(void)
{
    pthread_once(&fetched, fetch);
    EVP_MD_CTX *context = pthread_getspecific(thread_context);
    if (!context) {
        context = EVP_MD_CTX_new();
        if (!context || pthread_setspecific(thread_context, context) != 0)
            abort();
    }
    return context;
}
