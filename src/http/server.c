/* libmicrohttpd glue. Model: thread per connection with an internal polling thread (handlers
 * block on the store, and this is the simple correct model; see STYLE.md).
 * MHD calls the access handler once when headers arrive, once per body chunk, and once more
 * with *upload_data_size == 0: we allocate per-request state on the first call and queue the
 * response only on the last one (queuing early made MHD close keep-alive connections). */
#include "http/http.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

struct http_server {
    struct MHD_Daemon *d;
    char *tls_cert;  /* PEM text, kept while the daemon runs */
    char *tls_key;
    struct http_server_opts opts;
    http_handler_fn fn;
    void *app;
    atomic_long inflight;
    uint16_t port;
};

struct req_state {
    struct http_req req;
    char *raw_uri;
    char *body;
    size_t body_len, body_cap;
    bool too_large;
    bool counted; /* included in the in-flight count (the handler saw it) */
    int64_t t0;
};

static atomic_ullong req_counter;
static uint64_t req_prefix, req_prefix2;

static void make_request_id(char out[HTTP_REQUEST_ID_LEN + 1])
{
    /* UUID-shaped: random per process + a counter, so ids are unique and cheap. */
    unsigned long long n = atomic_fetch_add(&req_counter, 1);
    snprintf(out, HTTP_REQUEST_ID_LEN + 1, "%08X-%04X-%04X-%04X-%012llX",
             (unsigned)(req_prefix >> 32), (unsigned)(req_prefix >> 16) & 0xffff,
             (unsigned)req_prefix & 0xffff, (unsigned)(req_prefix2 ^ (n >> 48)) & 0xffff,
             (req_prefix2 >> 16 ^ n) & 0xffffffffffffull);
}

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    struct http_req *r = cls;
    if (r->nquery >= HTTP_MAX_QUERY_ARGS) {
        r->query_overflow = true;
        return MHD_NO;
    }
    r->query[r->nquery].key = key;
    r->query[r->nquery].value = value ? value : "";
    r->nquery++;
    return MHD_YES;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    struct http_req *r = cls;
    if (r->nheaders >= HTTP_MAX_HEADERS)
        return MHD_NO;
    r->headers[r->nheaders].key = key;
    r->headers[r->nheaders].value = value ? value : "";
    r->nheaders++;
    return MHD_YES;
}

const char *http_req_header(const struct http_req *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].key, name) == 0)
            return req->headers[i].value;
    return NULL;
}

static enum MHD_Result send_resp(struct MHD_Connection *c, const struct http_req *req,
                            struct http_resp *resp)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(resp->body_len, resp->body,
                                                              MHD_RESPMEM_MUST_FREE);
    resp->body = NULL;
    MHD_add_response_header(r, "Content-Type", "application/json;charset=utf-8");
    MHD_add_response_header(r, "x-acs-request-id", req->request_id);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

static void access_log(const struct req_state *st, int status, size_t bytes)
{
    if (LOG_INFO < log_min_level)
        return;
    log_info("access %s %s status=%d bytes=%zu ms=%lld", st->req.method, st->req.path, status,
             bytes, (long long)(time_mono_ms() - st->t0));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    struct http_server *s = cls;
    struct req_state *st = *con_cls;

    if (!st || !st->req.method) {
        /* First call. The state was usually made by uri_seen() with the raw URI. */
        if (!st) {
            st = xcalloc(1, sizeof *st);
            st->t0 = time_mono_ms();
        }
        st->req.raw_uri = st->raw_uri ? st->raw_uri : url;
        st->req.method = method;
        st->req.path = url;
        make_request_id(st->req.request_id);
        MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_query, &st->req);
        MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, &st->req);
        *con_cls = st;
        atomic_fetch_add(&s->inflight, 1);
        st->counted = true;
        /* Refuse a declared oversized body before reading it. */
        const char *cl = http_req_header(&st->req, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > s->opts.max_body)
            st->too_large = true;
        return MHD_YES;
    }

    if (*upload_data_size) {
        size_t n = *upload_data_size;
        if (!st->too_large && st->body_len + n > s->opts.max_body)
            st->too_large = true;
        if (!st->too_large) {
            if (st->body_len + n + 1 > st->body_cap) {
                st->body_cap = (st->body_len + n + 1) * 2;
                if (st->body_cap > s->opts.max_body + 1)
                    st->body_cap = s->opts.max_body + 1;
                st->body = xrealloc(st->body, st->body_cap);
            }
            memcpy(st->body + st->body_len, upload_data, n);
            st->body_len += n;
        }
        *upload_data_size = 0; /* consumed (or discarded past the cap) */
        return MHD_YES;
    }

    /* Final call: the whole request is here. */
    log_set_ctx(NULL);
    char ctx[64];
    snprintf(ctx, sizeof ctx, "req=%s", st->req.request_id);
    log_set_ctx(ctx);

    struct http_resp resp = {0};
    if (st->too_large) {
        char msg[128];
        snprintf(msg, sizeof msg, "request body exceeds the limit of %zu bytes",
                 s->opts.max_body);
        resp.status = 413;
        resp.body = s->opts.error_body(st->req.request_id, 413, "RequestBodyTooLarge", msg,
                                       &resp.body_len);
    } else if (st->req.query_overflow) {
        char msg[128];
        snprintf(msg, sizeof msg, "too many query parameters (at most %d)", HTTP_MAX_QUERY_ARGS);
        resp.status = 400;
        resp.body = s->opts.error_body(st->req.request_id, 400, "InvalidParameter.Query", msg,
                                       &resp.body_len);
    } else {
        if (!st->body) {
            st->body = xstrdup("");
        } else {
            st->body[st->body_len] = '\0';
        }
        st->req.body = st->body;
        st->req.body_len = st->body_len;
        s->fn(s->app, &st->req, &resp);
    }
    access_log(st, resp.status, resp.body_len);
    enum MHD_Result ret = send_resp(c, &st->req, &resp);
    log_set_ctx(NULL);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)c;
    (void)toe;
    struct http_server *s = cls;
    struct req_state *st = *con_cls;
    if (!st)
        return;
    free(st->body);
    free(st->raw_uri);
    if (st->counted)
        atomic_fetch_sub(&s->inflight, 1);
    free(st);
    *con_cls = NULL;
}

/* Called by MHD with the request target before it parses or decodes it: the raw URI is kept
 * for request signatures, and the returned state becomes the request's *con_cls. */
static void *uri_seen(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    struct req_state *st = xcalloc(1, sizeof *st);
    st->t0 = time_mono_ms();
    st->raw_uri = xstrdup(uri ? uri : "");
    return st;
}

/* Percent-decoding for the path and query values. A decoded NUL would silently cut a string
 * short ("/datasources/1%00/x" read as "/datasources/1"), so it becomes the byte 0xFF instead,
 * which no id, name or enum accepts and which is never echoed raw (invalid UTF-8). */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    char *w = s;
    for (const char *r = s; *r; r++) {
        if (r[0] == '%' && isxdigit((unsigned char)r[1]) && isxdigit((unsigned char)r[2])) {
            char hex[3] = {r[1], r[2], 0};
            unsigned v = (unsigned)strtoul(hex, NULL, 16);
            *w++ = (char)(v ? v : 0xFF);
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n'))
        msg[--n] = '\0';
    log_warn("http: %s", msg);
}

/* Parses "host:port", "[v6]:port" or ":port" into a sockaddr. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len,
                        struct mms_err *err)
{
    memset(ss, 0, sizeof *ss);
    const char *colon = strrchr(s, ':');
    if (!colon)
        return mms_err_set(err, 400, "InvalidConfig", "listen '%s' must be host:port", s);
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535 || end == colon + 1)
        return mms_err_set(err, 400, "InvalidConfig", "listen '%s': bad port", s);
    char host[256];
    size_t hn = (size_t)(colon - s);
    if (hn >= sizeof host)
        return mms_err_set(err, 400, "InvalidConfig", "listen '%s': host too long", s);
    memcpy(host, s, hn);
    host[hn] = '\0';
    if (host[0] == '[') {
        size_t l = strlen(host);
        if (l < 2 || host[l - 1] != ']')
            return mms_err_set(err, 400, "InvalidConfig", "listen '%s': bad IPv6 address", s);
        host[l - 1] = '\0';
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
            return mms_err_set(err, 400, "InvalidConfig", "listen '%s': bad IPv6 address", s);
        *len = sizeof *a6;
        return 0;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0)
        a4->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (strcmp(host, "localhost") == 0)
        a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
        return mms_err_set(err, 400, "InvalidConfig", "listen '%s': bad IPv4 address", s);
    *len = sizeof *a4;
    return 0;
}

/* Reads a whole PEM file (at most 1 MiB) that must contain `marker`. */
static int read_pem(const char *path, const char *what, const char *marker, char **out,
                    struct mms_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return mms_err_set(err, 400, "InvalidConfig", "cannot open the TLS %s %s: %s", what,
                           path, strerror(errno));
    char *buf = xmalloc((size_t)1024 * 1024 + 1);
    size_t n = fread(buf, 1, (size_t)1024 * 1024 + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n == 0 || n > (size_t)1024 * 1024) {
        free(buf);
        return mms_err_set(err, 400, "InvalidConfig", "the TLS %s %s is %s", what, path,
                           bad ? "unreadable" : n == 0 ? "empty" : "larger than 1 MiB");
    }
    buf[n] = '\0';
    if (!strstr(buf, marker)) {
        free(buf);
        return mms_err_set(err, 400, "InvalidConfig", "the TLS %s %s is not PEM (no %s line)",
                           what, path, marker);
    }
    *out = buf;
    return 0;
}

static void free_secret_text(char *s)
{
    if (s) {
        volatile char *v = s;
        while (*v)
            *v++ = 0;
        free(s);
    }
}

int http_server_start(struct http_server **out, const struct http_server_opts *opts,
                      http_handler_fn fn, void *app, struct mms_err *err)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (parse_listen(opts->listen, &ss, &sslen, err) < 0)
        return -1;
    if (req_prefix == 0 && (getrandom(&req_prefix, sizeof req_prefix, 0) != sizeof req_prefix ||
                            getrandom(&req_prefix2, sizeof req_prefix2, 0) != sizeof req_prefix2))
        req_prefix = (uint64_t)time_now_ms() ^ (uint64_t)getpid() << 32;

    struct http_server *s = xcalloc(1, sizeof *s);
    s->opts = *opts;
    s->fn = fn;
    s->app = app;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_ERROR_LOG | MHD_USE_POLL | MHD_USE_ITC;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_OptionItem tls[3] = {{MHD_OPTION_END, 0, NULL}};
    bool use_tls = opts->tls_cert_file && opts->tls_cert_file[0];
    if (use_tls) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            free(s);
            return mms_err_set(err, 400, "InvalidConfig",
                               "this libmicrohttpd was built without TLS support");
        }
        if (read_pem(opts->tls_cert_file, "certificate", "-----BEGIN CERTIFICATE-----",
                     &s->tls_cert, err) < 0 ||
            read_pem(opts->tls_key_file, "key", "PRIVATE KEY-----", &s->tls_key, err) < 0) {
            free_secret_text(s->tls_cert);
            free(s);
            return -1;
        }
        flags |= MHD_USE_TLS;
        tls[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert};
        tls[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key};
        tls[2] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    }
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                            MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
                            MHD_OPTION_URI_LOG_CALLBACK, uri_seen, NULL,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_CONNECTION_LIMIT, opts->max_connections,
                            MHD_OPTION_CONNECTION_TIMEOUT, opts->timeout_seconds,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024,
                            MHD_OPTION_ARRAY, tls,
                            MHD_OPTION_END);
    if (!s->d) {
        free_secret_text(s->tls_cert);
        free_secret_text(s->tls_key);
        free(s);
        if (use_tls)
            return mms_err_set(err, 500, "InternalError",
                               "cannot start HTTPS on %s: the port is taken, or the "
                               "certificate %s and key %s are invalid or do not match (see "
                               "the libmicrohttpd message above)",
                               opts->listen, opts->tls_cert_file, opts->tls_key_file);
        return mms_err_set(err, 500, "InternalError", "cannot listen on %s (in use?)",
                           opts->listen);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;
    *out = s;
    return 0;
}

uint16_t http_server_port(const struct http_server *s)
{
    return s->port;
}

void http_server_stop(struct http_server *s, int grace_seconds)
{
    if (!s)
        return;
    MHD_socket fd = MHD_quiesce_daemon(s->d);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    int64_t deadline = time_mono_ms() + (int64_t)grace_seconds * 1000;
    while (atomic_load(&s->inflight) > 0 && time_mono_ms() < deadline)
        usleep(20 * 1000);
    long left = atomic_load(&s->inflight);
    if (left > 0)
        log_warn("http: stopping with %ld requests still in flight after %ds", left,
                 grace_seconds);
    MHD_stop_daemon(s->d);
    free_secret_text(s->tls_cert);
    free_secret_text(s->tls_key);
    free(s);
}
