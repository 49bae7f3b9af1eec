/*
 * A TLS client session whose ciphertext goes through memory, for a socket that someone
 * else reads and writes: stream_conn's raw libwebsockets connection. OpenSSL does the
 * protocol; this holds the session and says clearly why a handshake failed.
 *
 * Why not lws' TLS: libwebsockets 4.1.6 starts TLS on a raw client connection before
 * the socket exists (lws_client_connect_via_info() with method "RAW" calls SSL_connect
 * on fd -1 when built without async DNS, as Debian's is), so a raw wss:// connection
 * fails every time. The WebSocket framing that runs over a raw connection is the
 * relay's own (ws_wire.h); TLS for it is done here.
 *
 * Contract:
 *  - Runs on one thread (the lws service loop). Sessions share one SSL_CTX, made with
 *    the first session and freed with the last; it trusts OpenSSL's default store
 *    (SSL_CERT_FILE / SSL_CERT_DIR override it, as for every OpenSSL client).
 *  - The server's certificate must chain to a trusted root and name host (DNS name or
 *    IP address); TLS 1.2 is the least accepted; SNI carries host unless it is an
 *    address.
 *  - tls_pipe_start() puts the ClientHello in the output. tls_pipe_receive() takes
 *    ciphertext as it arrives and hands the plaintext it yields to on_plain. Plaintext
 *    given to tls_pipe_send() before the handshake is done waits for it.
 *    tls_pipe_take_output() moves the ciphertext to be sent into out.
 *  - Returns: 0 fine; TLS_PIPE_CLOSED when the server ended the session (close_notify);
 *    TLS_PIPE_STOPPED when on_plain returned nonzero; -1 with errstr on failure (an
 *    untrusted or misnamed certificate, a protocol error), after which the session is
 *    unusable.
 */
#ifndef CRELAY_CONSUMER_TLS_PIPE_H
#define CRELAY_CONSUMER_TLS_PIPE_H

#include <stddef.h>

#include "util/strbuf.h"

struct tls_pipe;

#define TLS_PIPE_CLOSED 1
#define TLS_PIPE_STOPPED 2

struct tls_pipe *tls_pipe_create(const char *host, char *errstr, size_t errstr_size);
void tls_pipe_destroy(struct tls_pipe *pipe);

int tls_pipe_start(struct tls_pipe *pipe, char *errstr, size_t errstr_size);
int tls_pipe_receive(struct tls_pipe *pipe, const void *ciphertext, size_t len,
                     int (*on_plain)(void *ctx, const char *data, size_t len), void *ctx,
                     char *errstr, size_t errstr_size);
int tls_pipe_send(struct tls_pipe *pipe, const void *plaintext, size_t len, char *errstr,
                  size_t errstr_size);
void tls_pipe_take_output(struct tls_pipe *pipe, struct strbuf *out);
int tls_pipe_handshake_done(const struct tls_pipe *pipe);

#endif
