/* The HTTP server: libmicrohttpd behind a small interface, so the threading model and the
 * library stay inside server.c. The application gets a complete request (headers, query
 * arguments, capped body) and fills a response; it never sees libmicrohttpd types.
 *
 * Limits enforced here, at the edge: body size (413 before the handler runs), header block
 * size (MHD's per-connection memory limit: 431/413 from MHD), number of query arguments
 * (400), concurrent connections, idle timeout. */
#ifndef MMS_HTTP_H
#define MMS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define HTTP_MAX_QUERY_ARGS 64
#define HTTP_MAX_HEADERS 64
#define HTTP_REQUEST_ID_LEN 36

struct http_kv {
    const char *key;   /* borrowed, valid for the request */
    const char *value; /* decoded; "" when given without '=' */
};

struct http_req {
    const char *method;          /* "GET", "POST", ... */
    const char *path;            /* percent-decoded path without the query string */
    const char *raw_uri;         /* the request target exactly as sent: raw path ? raw query
                                    (what request signatures are computed over) */
    struct http_kv query[HTTP_MAX_QUERY_ARGS];
    size_t nquery;
    bool query_overflow;         /* more than HTTP_MAX_QUERY_ARGS arguments were sent */
    struct http_kv headers[HTTP_MAX_HEADERS];
    size_t nheaders;
    const char *body;            /* NUL-terminated copy of the body ("" when none) */
    size_t body_len;
    char request_id[HTTP_REQUEST_ID_LEN + 1];
};

struct http_resp {
    int status;
    char *body;                  /* owned by the response (malloc'd); sent as JSON */
    size_t body_len;
};

/* Called once per complete request, on one of the server's threads. Must fill resp. */
typedef void (*http_handler_fn)(void *app, const struct http_req *req, struct http_resp *resp);

struct http_server_opts {
    const char *listen;          /* "127.0.0.1:8080", "[::1]:8080", ":8080" */
    size_t max_body;
    unsigned max_connections;
    unsigned timeout_seconds;
    /* Produces the error body for errors raised before the handler (413, 400 query overflow);
     * caller-supplied so the envelope stays the API layer's business. */
    char *(*error_body)(const char *request_id, int http, const char *code, const char *msg,
                        size_t *len);
    /* HTTPS (GnuTLS through libmicrohttpd) when both are set: PEM files, read at start. */
    const char *tls_cert_file;
    const char *tls_key_file;
};

struct http_server;

int http_server_start(struct http_server **out, const struct http_server_opts *opts,
                      http_handler_fn fn, void *app, struct mms_err *err);
/* Stops accepting, waits up to grace_seconds for in-flight requests, then stops. */
void http_server_stop(struct http_server *s, int grace_seconds);
/* Case-insensitive header lookup; NULL when absent. */
const char *http_req_header(const struct http_req *req, const char *name);
/* The port actually bound (useful with port 0). */
uint16_t http_server_port(const struct http_server *s);

#endif
