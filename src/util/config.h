/* mmsd configuration: one table of descriptors (config.c `options[]`) drives the command-line
 * flags, the environment variables, the config file and `--help`.
 * Precedence, lowest first: built-in default < config file < environment < flag. */
#ifndef MMS_CONFIG_H
#define MMS_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "util/err.h"

struct mms_config {
    char *listen;            /* "127.0.0.1:8080" */
    char *data_dir;          /* "./var" */
    char *store;             /* SQLite store file; "" = <data_dir>/mms.db */
    char *config_file;       /* --config */
    char *log_level;         /* debug|info|warn|error */
    char *log_format;        /* text|json */
    char *time_offset;       /* display offset "+HH:MM" / "-HH:MM", default "+00:00" (UTC) */
    int64_t workers;         /* migration task threads */
    int64_t control_workers; /* threads for async tasks and scans */
    int64_t lease_seconds;   /* how long a claim lasts without a heartbeat */
    int64_t poll_ms;         /* idle workers look for new work this often */
    int64_t max_body_bytes;  /* request body cap (413 past it) */
    int64_t max_connections; /* concurrent HTTP connections */
    int64_t http_timeout;    /* idle connection timeout, seconds */
    int64_t shutdown_grace;  /* seconds to let in-flight requests finish on SIGTERM */
    int64_t store_pool;      /* SQLite connections shared by HTTP threads */
    int64_t page_size_default;
    int64_t page_size_max;
    int64_t batch_bytes;     /* row batch cap in bytes (memory bound of one stream) */
    int64_t batch_rows;      /* row batch cap in rows */
    int64_t split_partitions;/* at most this many partitions per task */
    int64_t split_bytes;     /* at most this many bytes per task (an oversized partition alone) */
    int64_t copy_streams;    /* parallel streams copying one large table (key ranges) */
    int64_t copy_streams_min_rows; /* ... for a table of at least this many rows */
    int64_t write_streams;   /* writers fed by one reader (fan-out), when the destination can */
    int64_t write_streams_min_rows; /* ... for a table of at least this many rows */
    /* Security (issue 4; docs/security.md) */
    int64_t insecure_no_auth;     /* 1: no authentication (loopback listen addresses only) */
    char *tls_cert;               /* PEM certificate chain file; "" = plain HTTP */
    char *tls_key;                /* PEM private key file; both or neither */
    char *region;                 /* region id in resource ARNs */
    char *account_id;             /* account id in resource ARNs */
    int64_t auth_debug_signature; /* 1: SignatureDoesNotMatch shows the server's string-to-sign */
    int64_t clock_skew_seconds;   /* request dates accepted within this of the server clock */
};

/* Fills cfg from defaults, file, env and argv. Returns 0; 1 when --help or --version was
 * handled (caller exits 0); -1 with err on a bad option or value. */
int config_load(struct mms_config *cfg, int argc, char **argv, struct mms_err *err);
void config_release(struct mms_config *cfg);
void config_usage(FILE *out);
/* Parses "+HH:MM"/"-HH:MM" into seconds east of UTC; -1 if malformed. */
int config_parse_offset(const char *s, int *seconds);
/* Whether a listen address ("127.0.0.1:8080", "[::1]:8080", "localhost:8080") names only the
 * loopback interface (127.0.0.0/8, ::1, localhost). ":8080" (all interfaces) is not. */
int config_listen_is_loopback(const char *listen);

#endif
