#include "consumer/tls_pipe.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* A TLS record carries at most 16 KiB of plaintext. */
#define PLAIN_CHUNK (16 * 1024)

struct tls_pipe {
    SSL *ssl;
    BIO *in;  /* ciphertext from the socket, read by OpenSSL */
    BIO *out; /* ciphertext OpenSSL wrote, for the socket */
    int handshake_done;
    int failed;
    struct strbuf waiting; /* plaintext sent before the handshake was done */
};

/* Loading the trust store takes milliseconds; sessions share it. Loop thread only. */
static SSL_CTX *shared_ctx;
static int shared_users;

static void describe_error(const char *what, char *errstr, size_t errstr_size)
{
    unsigned long code = ERR_get_error();
    char reason[160] = "no detail from OpenSSL";
    if (code)
        ERR_error_string_n(code, reason, sizeof reason);
    ERR_clear_error();
    snprintf(errstr, errstr_size, "TLS: %s: %s", what, reason);
}

static SSL_CTX *shared_ctx_acquire(char *errstr, size_t errstr_size)
{
    if (shared_ctx) {
        shared_users++;
        return shared_ctx;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        describe_error("cannot make a client context", errstr, errstr_size);
        return NULL;
    }
    static const unsigned char alpn[] = "\x08http/1.1";
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        !SSL_CTX_set_default_verify_paths(ctx) ||
        SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1) != 0) {
        describe_error("cannot set up the client context", errstr, errstr_size);
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    shared_ctx = ctx;
    shared_users = 1;
    return ctx;
}

static void shared_ctx_release(void)
{
    if (--shared_users == 0) {
        SSL_CTX_free(shared_ctx);
        shared_ctx = NULL;
    }
}

struct tls_pipe *tls_pipe_create(const char *host, char *errstr, size_t errstr_size)
{
    SSL_CTX *ctx = shared_ctx_acquire(errstr, errstr_size);
    if (!ctx)
        return NULL;
    struct tls_pipe *pipe = calloc(1, sizeof *pipe);
    if (!pipe)
        abort();
    pipe->ssl = SSL_new(ctx);
    pipe->in = BIO_new(BIO_s_mem());
    pipe->out = BIO_new(BIO_s_mem());
    if (!pipe->ssl || !pipe->in || !pipe->out) {
        describe_error("cannot make a session", errstr, errstr_size);
        BIO_free(pipe->in);
        BIO_free(pipe->out);
        goto fail;
    }
    /* An empty memory BIO means "no data yet", not end of file. */
    BIO_set_mem_eof_return(pipe->in, -1);
    SSL_set_bio(pipe->ssl, pipe->in, pipe->out);
    SSL_set_connect_state(pipe->ssl);

    unsigned char address[16];
    int is_address = inet_pton(AF_INET, host, address) == 1 || inet_pton(AF_INET6, host, address) == 1;
    X509_VERIFY_PARAM *param = SSL_get0_param(pipe->ssl);
    int named = is_address ? X509_VERIFY_PARAM_set1_ip_asc(param, host)
                           : SSL_set_tlsext_host_name(pipe->ssl, host) && SSL_set1_host(pipe->ssl, host);
    if (!named) {
        describe_error("cannot set the server name to verify", errstr, errstr_size);
        goto fail;
    }
    return pipe;

fail:
    SSL_free(pipe->ssl);
    free(pipe);
    shared_ctx_release();
    return NULL;
}

void tls_pipe_destroy(struct tls_pipe *pipe)
{
    if (!pipe)
        return;
    SSL_free(pipe->ssl); /* frees both BIOs */
    strbuf_free(&pipe->waiting);
    free(pipe);
    shared_ctx_release();
}

static int session_failed(struct tls_pipe *pipe, int ssl_error, char *errstr, size_t errstr_size)
{
    pipe->failed = 1;
    long verify = SSL_get_verify_result(pipe->ssl);
    if (!pipe->handshake_done && verify != X509_V_OK) {
        ERR_clear_error();
        snprintf(errstr, errstr_size, "TLS: the server's certificate was refused: %s",
                 X509_verify_cert_error_string(verify));
        return -1;
    }
    if (ssl_error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
        snprintf(errstr, errstr_size, "TLS: the session ended without close_notify");
        return -1;
    }
    describe_error(pipe->handshake_done ? "session failed" : "handshake failed", errstr,
                   errstr_size);
    return -1;
}

static int write_plain(struct tls_pipe *pipe, const void *data, size_t len, char *errstr,
                       size_t errstr_size)
{
    if (len == 0)
        return 0;
    /* Into a memory BIO a write never comes up short. */
    int n = SSL_write(pipe->ssl, data, (int)len);
    if (n != (int)len)
        return session_failed(pipe, SSL_get_error(pipe->ssl, n), errstr, errstr_size);
    return 0;
}

/* Drives the handshake; returns 0 while it is under way or done. */
static int advance_handshake(struct tls_pipe *pipe, char *errstr, size_t errstr_size)
{
    int rc = SSL_do_handshake(pipe->ssl);
    if (rc == 1) {
        pipe->handshake_done = 1;
        int sent = write_plain(pipe, pipe->waiting.data, pipe->waiting.len, errstr, errstr_size);
        strbuf_free(&pipe->waiting);
        return sent;
    }
    int error = SSL_get_error(pipe->ssl, rc);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE)
        return 0;
    return session_failed(pipe, error, errstr, errstr_size);
}

int tls_pipe_start(struct tls_pipe *pipe, char *errstr, size_t errstr_size)
{
    return advance_handshake(pipe, errstr, errstr_size);
}

int tls_pipe_receive(struct tls_pipe *pipe, const void *ciphertext, size_t len,
                     int (*on_plain)(void *ctx, const char *data, size_t len), void *ctx,
                     char *errstr, size_t errstr_size)
{
    if (pipe->failed) {
        snprintf(errstr, errstr_size, "TLS: the session has already failed");
        return -1;
    }
    if (len && BIO_write(pipe->in, ciphertext, (int)len) != (int)len) {
        snprintf(errstr, errstr_size, "TLS: cannot buffer %zu received bytes", len);
        pipe->failed = 1;
        return -1;
    }
    if (!pipe->handshake_done) {
        if (advance_handshake(pipe, errstr, errstr_size) != 0)
            return -1;
        if (!pipe->handshake_done)
            return 0;
    }
    char plain[PLAIN_CHUNK];
    for (;;) {
        int n = SSL_read(pipe->ssl, plain, sizeof plain);
        if (n > 0) {
            if (on_plain(ctx, plain, (size_t)n) != 0)
                return TLS_PIPE_STOPPED;
            continue;
        }
        int error = SSL_get_error(pipe->ssl, n);
        if (error == SSL_ERROR_WANT_READ)
            return 0;
        if (error == SSL_ERROR_ZERO_RETURN)
            return TLS_PIPE_CLOSED;
        return session_failed(pipe, error, errstr, errstr_size);
    }
}

int tls_pipe_send(struct tls_pipe *pipe, const void *plaintext, size_t len, char *errstr,
                  size_t errstr_size)
{
    if (pipe->failed) {
        snprintf(errstr, errstr_size, "TLS: the session has already failed");
        return -1;
    }
    if (!pipe->handshake_done) {
        strbuf_append_len(&pipe->waiting, plaintext, len);
        return 0;
    }
    return write_plain(pipe, plaintext, len, errstr, errstr_size);
}

void tls_pipe_take_output(struct tls_pipe *pipe, struct strbuf *out)
{
    char *data = NULL;
    long len = BIO_get_mem_data(pipe->out, &data);
    if (len > 0) {
        strbuf_append_len(out, data, (size_t)len);
        (void)BIO_reset(pipe->out);
    }
}

int tls_pipe_handshake_done(const struct tls_pipe *pipe)
{
    return pipe->handshake_done;
}
