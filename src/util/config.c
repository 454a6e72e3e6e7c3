#include "util/config.h"
#include "util/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum opt_type { OPT_STR, OPT_INT, OPT_BOOL };

struct opt {
    const char *name;   /* flag name (--name) and config-file key */
    const char *env;    /* environment variable */
    enum opt_type type;
    size_t offset;      /* into struct mms_config */
    const char *def;    /* default, as text */
    int64_t min, max;   /* bounds for OPT_INT */
    const char *help;
};

#define S(field) OPT_STR, offsetof(struct mms_config, field)
#define I(field) OPT_INT, offsetof(struct mms_config, field)
#define B(field) OPT_BOOL, offsetof(struct mms_config, field)

/* The one table. Keep it sorted roughly by how often people touch it. */
static const struct opt options[] = {
    {"listen", "MMS_LISTEN", S(listen), "127.0.0.1:8080", 0, 0,
     "address:port the HTTP API listens on"},
    {"data-dir", "MMS_DATA_DIR", S(data_dir), "./var", 0, 0,
     "directory for the store, the lock file and other state (created if missing)"},
    {"store", "MMS_STORE", S(store), "", 0, 0,
     "metadata store: a SQLite file path (default <data-dir>/mms.db)"},
    {"config", "MMS_CONFIG", S(config_file), "", 0, 0,
     "config file of `key = value` lines using these option names"},
    {"workers", "MMS_WORKERS", I(workers), "4", 1, 64,
     "migration task worker threads (tasks running at once)"},
    {"control-workers", "MMS_CONTROL_WORKERS", I(control_workers), "2", 1, 16,
     "worker threads for async tasks and metadata scans"},
    {"log-level", "MMS_LOG_LEVEL", S(log_level), "info", 0, 0, "debug, info, warn or error"},
    {"log-format", "MMS_LOG_FORMAT", S(log_format), "text", 0, 0, "text or json"},
    {"time-offset", "MMS_TIME_OFFSET", S(time_offset), "+00:00", 0, 0,
     "offset from UTC of the times the API shows, +HH:MM or -HH:MM"},
    {"lease-seconds", "MMS_LEASE_SECONDS", I(lease_seconds), "30", 2, 3600,
     "a claimed task is taken back after this long without a heartbeat"},
    {"poll-ms", "MMS_POLL_MS", I(poll_ms), "200", 10, 60000,
     "idle workers look for new work this often (milliseconds)"},
    {"max-body-bytes", "MMS_MAX_BODY_BYTES", I(max_body_bytes), "1048576", 1024, 67108864,
     "largest request body accepted (413 RequestBodyTooLarge past it)"},
    {"max-connections", "MMS_MAX_CONNECTIONS", I(max_connections), "512", 4, 10000,
     "HTTP connections served at once"},
    {"http-timeout", "MMS_HTTP_TIMEOUT", I(http_timeout), "60", 1, 3600,
     "idle HTTP connections are closed after this many seconds"},
    {"shutdown-grace", "MMS_SHUTDOWN_GRACE", I(shutdown_grace), "10", 0, 600,
     "seconds in-flight requests get to finish on SIGTERM/SIGINT"},
    {"store-pool", "MMS_STORE_POOL", I(store_pool), "16", 1, 256,
     "store connections shared by the HTTP threads"},
    {"page-size-default", "MMS_PAGE_SIZE_DEFAULT", I(page_size_default), "20", 1, 10000,
     "pageSize of List* calls that give none"},
    {"page-size-max", "MMS_PAGE_SIZE_MAX", I(page_size_max), "1000", 1, 10000,
     "largest pageSize accepted (400 past it)"},
    {"batch-bytes", "MMS_BATCH_BYTES", I(batch_bytes), "4194304", 65536, 268435456,
     "a row batch holds at most this many bytes (bounds the memory of each stream)"},
    {"batch-rows", "MMS_BATCH_ROWS", I(batch_rows), "10000", 1, 1000000,
     "a row batch holds at most this many rows"},
    {"split-partitions", "MMS_SPLIT_PARTITIONS", I(split_partitions), "50", 1, 100000,
     "a task holds at most this many partitions"},
    {"split-bytes", "MMS_SPLIT_BYTES", I(split_bytes), "5368709120", 1048576,
     INT64_MAX, "a task holds at most this many bytes of partitions"},
    {"copy-streams", "MMS_COPY_STREAMS", I(copy_streams), "1", 1, 16,
     "a large table is copied by this many parallel streams (key ranges), when both connectors"
     " can (job others.copyStreams overrides)"},
    {"copy-streams-min-rows", "MMS_COPY_STREAMS_MIN_ROWS", I(copy_streams_min_rows), "1000000",
     1, INT64_MAX, "... for a table or partition of at least this many rows (catalog estimate)"},
    {"write-streams", "MMS_WRITE_STREAMS", I(write_streams), "2", 1, 16,
     "a table is written by this many parallel writers fed by one reader, when the destination"
     " can join writers (MySQL, PostgreSQL; job others.writeStreams overrides)"},
    {"write-streams-min-rows", "MMS_WRITE_STREAMS_MIN_ROWS", I(write_streams_min_rows), "100000",
     1, INT64_MAX, "... for a table or partition of at least this many rows (catalog estimate)"},
    {"insecure-no-auth", "MMS_INSECURE_NO_AUTH", B(insecure_no_auth), "false", 0, 1,
     "serve requests WITHOUT authentication (development only; refused unless --listen is a "
     "loopback address)"},
    {"tls-cert", "MMS_TLS_CERT", S(tls_cert), "", 0, 0,
     "PEM certificate (chain) file: serve HTTPS (needs --tls-key)"},
    {"tls-key", "MMS_TLS_KEY", S(tls_key), "", 0, 0,
     "PEM private key file of --tls-cert"},
    {"region", "MMS_REGION", S(region), "cn-hangzhou", 0, 0,
     "region id in data source ARNs acs:odps:<region>:<account>:mmsdatasource/<id>"},
    {"account-id", "MMS_ACCOUNT_ID", S(account_id), "0", 0, 0,
     "account id in data source ARNs"},
    {"auth-debug-signature", "MMS_AUTH_DEBUG_SIGNATURE", B(auth_debug_signature), "false", 0,
     1, "SignatureDoesNotMatch errors include the server's string-to-sign (debugging)"},
    {"clock-skew-seconds", "MMS_CLOCK_SKEW_SECONDS", I(clock_skew_seconds), "900", 1, 86400,
     "signed requests must be dated within this many seconds of the server clock"},
};

#define NOPTS (sizeof options / sizeof options[0])

static const struct opt *find(const char *name, size_t n)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (strlen(options[i].name) == n && strncmp(options[i].name, name, n) == 0)
            return &options[i];
    return NULL;
}

static int set(struct mms_config *cfg, const struct opt *o, const char *val, const char *origin,
               struct mms_err *err)
{
    char *base = (char *)cfg;
    if (o->type == OPT_STR) {
        char **dst = (char **)(base + o->offset);
        free(*dst);
        *dst = xstrdup(val);
        return 0;
    }
    if (o->type == OPT_BOOL) {
        int64_t b;
        if (strcmp(val, "true") == 0 || strcmp(val, "1") == 0 || strcmp(val, "yes") == 0)
            b = 1;
        else if (strcmp(val, "false") == 0 || strcmp(val, "0") == 0 || strcmp(val, "no") == 0)
            b = 0;
        else
            return mms_err_set(err, 400, "InvalidConfig",
                               "%s: %s must be true or false, got '%s'", origin, o->name, val);
        *(int64_t *)(base + o->offset) = b;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long long v = strtoll(val, &end, 10);
    if (errno || end == val || *end != '\0')
        return mms_err_set(err, 400, "InvalidConfig", "%s: %s must be an integer, got '%s'",
                           origin, o->name, val);
    if (v < o->min || v > o->max)
        return mms_err_set(err, 400, "InvalidConfig", "%s: %s must be in %lld..%lld, got %lld",
                           origin, o->name, (long long)o->min, (long long)o->max, v);
    *(int64_t *)(base + o->offset) = v;
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int load_file(struct mms_config *cfg, const char *path, struct mms_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return mms_err_set(err, 400, "InvalidConfig", "cannot open config file %s: %s", path,
                           strerror(errno));
    char line[4096];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = mms_err_set(err, 400, "InvalidConfig", "%s:%d: expected `key = value`", path,
                             lineno);
            break;
        }
        *eq = '\0';
        char *key = trim(s), *val = trim(eq + 1);
        const struct opt *o = find(key, strlen(key));
        if (!o || strcmp(key, "config") == 0) {
            rc = mms_err_set(err, 400, "InvalidConfig", "%s:%d: unknown option '%s'", path,
                             lineno, key);
            break;
        }
        char origin[600];
        snprintf(origin, sizeof origin, "%s:%d", path, lineno);
        if ((rc = set(cfg, o, val, origin, err)) < 0)
            break;
    }
    fclose(f);
    return rc;
}

void config_usage(FILE *out)
{
    fprintf(out, "usage: mmsd [options]\n"
                 "       mmsd key|policy ... (access keys and policies: mmsd key help)\n\n"
                 "Options (each also from its environment variable or the config file):\n");
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &options[i];
        fprintf(out, "  --%-20s %-22s %s (default: %s)\n", o->name, o->env, o->help,
                o->def[0] ? o->def : "none");
    }
    fprintf(out, "  --%-20s %-22s %s\n", "help", "", "print this and exit");
}

int config_parse_offset(const char *s, int *seconds)
{
    int h, m, n = 0;
    if ((s[0] != '+' && s[0] != '-') || sscanf(s + 1, "%2d:%2d%n", &h, &m, &n) != 2 || n != 5 ||
        s[6] != '\0' || h > 14 || m > 59 || h < 0 || m < 0)
        return -1;
    *seconds = (s[0] == '-' ? -1 : 1) * (h * 3600 + m * 60);
    return 0;
}

int config_listen_is_loopback(const char *listen)
{
    char host[256];
    const char *colon;
    if (listen[0] == '[') {
        const char *rb = strchr(listen, ']');
        if (!rb || (size_t)(rb - listen - 1) >= sizeof host)
            return 0;
        memcpy(host, listen + 1, (size_t)(rb - listen - 1));
        host[rb - listen - 1] = '\0';
        return strcmp(host, "::1") == 0;
    }
    colon = strrchr(listen, ':');
    size_t n = colon ? (size_t)(colon - listen) : strlen(listen);
    if (n == 0 || n >= sizeof host)
        return 0;
    memcpy(host, listen, n);
    host[n] = '\0';
    if (strcmp(host, "localhost") == 0)
        return 1;
    unsigned a, b, c, d;
    char extra;
    if (sscanf(host, "%u.%u.%u.%u%c", &a, &b, &c, &d, &extra) == 4 && a == 127 && b < 256 &&
        c < 256 && d < 256)
        return 1;
    return 0;
}

int config_load(struct mms_config *cfg, int argc, char **argv, struct mms_err *err)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < NOPTS; i++)
        if (set(cfg, &options[i], options[i].def, "default", err) < 0)
            return -1;

    /* The config file is named by flag or env; find it first so that env and flags win. */
    const char *file = getenv("MMS_CONFIG");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            config_usage(stdout);
            return 1;
        }
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            file = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            file = argv[i] + 9;
    }
    if (file && *file && load_file(cfg, file, err) < 0)
        return -1;

    for (size_t i = 0; i < NOPTS; i++) {
        const char *v = getenv(options[i].env);
        if (v && set(cfg, &options[i], v, options[i].env, err) < 0)
            return -1;
    }

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0)
            return mms_err_set(err, 400, "InvalidConfig", "unexpected argument '%s'", a);
        a += 2;
        const char *eq = strchr(a, '=');
        size_t n = eq ? (size_t)(eq - a) : strlen(a);
        const struct opt *o = find(a, n);
        if (!o)
            return mms_err_set(err, 400, "InvalidConfig", "unknown option '--%.*s' (see --help)",
                               (int)n, a);
        const char *val = eq ? eq + 1 : NULL;
        if (!val && o->type == OPT_BOOL)
            val = "true"; /* a bare flag */
        if (!val) {
            if (i + 1 >= argc)
                return mms_err_set(err, 400, "InvalidConfig", "option --%s needs a value",
                                   o->name);
            val = argv[++i];
        }
        if (set(cfg, o, val, "command line", err) < 0)
            return -1;
    }

    int off;
    if (config_parse_offset(cfg->time_offset, &off) < 0)
        return mms_err_set(err, 400, "InvalidConfig", "time-offset must be +HH:MM or -HH:MM");
    if (strcmp(cfg->log_level, "debug") && strcmp(cfg->log_level, "info") &&
        strcmp(cfg->log_level, "warn") && strcmp(cfg->log_level, "error"))
        return mms_err_set(err, 400, "InvalidConfig", "log-level must be debug|info|warn|error");
    if (strcmp(cfg->log_format, "text") && strcmp(cfg->log_format, "json"))
        return mms_err_set(err, 400, "InvalidConfig", "log-format must be text|json");
    if (cfg->page_size_default > cfg->page_size_max)
        return mms_err_set(err, 400, "InvalidConfig", "page-size-default exceeds page-size-max");
    if (!cfg->tls_cert[0] != !cfg->tls_key[0])
        return mms_err_set(err, 400, "InvalidConfig",
                           "--tls-cert and --tls-key go together: give both or neither");
    if (!cfg->region[0] || strpbrk(cfg->region, ":/*?") || !cfg->account_id[0] ||
        strpbrk(cfg->account_id, ":/*?"))
        return mms_err_set(err, 400, "InvalidConfig",
                           "region and account-id must be non-empty, without : / * ?");
    if (cfg->insecure_no_auth && !config_listen_is_loopback(cfg->listen))
        return mms_err_set(err, 400, "InvalidConfig",
                           "--insecure-no-auth is refused: --listen %s is not a loopback address "
                           "(127.0.0.0/8, ::1, localhost)",
                           cfg->listen);
    if (cfg->store[0] == '\0') {
        free(cfg->store);
        cfg->store = xasprintf("%s/mms.db", cfg->data_dir);
    }
    return 0;
}

void config_release(struct mms_config *cfg)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (options[i].type == OPT_STR) {
            char **p = (char **)((char *)cfg + options[i].offset);
            free(*p);
            *p = NULL;
        }
}
