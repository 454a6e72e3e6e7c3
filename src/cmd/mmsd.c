/* mmsd: the MMS API server and its migration engine.
 * Start-up: configuration -> data directory and its lock -> store -> engine -> HTTP.
 * SIGTERM/SIGINT: stop accepting, let in-flight requests finish (shutdown-grace), stop the
 * engine (running tasks give their work back and resume on the next start), exit 0. */
#include "api/api.h"
#include "engine/engine.h"
#include "store/store.h"
#include "util/config.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* mkdir -p */
static int make_dirs(const char *path)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return -1;
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* One mmsd per data directory: the embedded store is single-node. */
static int lock_data_dir(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/mmsd.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        log_error("cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        log_error("data directory %s is in use by another mmsd (%s is locked)", dir, path);
        close(fd);
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (ftruncate(fd, 0) == 0 && write(fd, pid, (size_t)n) < 0)
        log_warn("cannot write pid to %s", path);
    return fd; /* kept open (and locked) for the life of the process */
}

int main(int argc, char **argv)
{
    struct mms_config cfg;
    struct mms_err err = {0};
    struct store *store = NULL;
    struct engine *engine = NULL;
    struct http_server *http = NULL;
    int rc = 1;

    int c = config_load(&cfg, argc, argv, &err);
    if (c == 1) {
        config_release(&cfg);
        return 0;
    }
    if (c < 0) {
        fprintf(stderr, "mmsd: %s\n", err.msg);
        config_release(&cfg);
        return 2;
    }
    log_set_level(cfg.log_level);
    log_set_format(cfg.log_format);
    int off = 0;
    config_parse_offset(cfg.time_offset, &off);
    time_set_offset(off);
    json_object_seed(0);

    /* Signals are taken by sigwait() in this thread only. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (make_dirs(cfg.data_dir) < 0) {
        log_error("cannot create data directory %s: %s", cfg.data_dir, strerror(errno));
        goto out;
    }
    if (lock_data_dir(cfg.data_dir) < 0)
        goto out;
    if (store_open(&store, cfg.store, (int)cfg.store_pool, &err) < 0) {
        log_error("cannot open the store %s: %s", cfg.store, err.msg);
        goto out;
    }
    {
        struct db *db = store_acquire(store);
        int r = store_release_all_leases(db, &err);
        store_release(store, db);
        if (r < 0) {
            log_error("cannot release old leases: %s", err.msg);
            goto out;
        }
    }
    if (engine_start(&engine, store, &cfg, &err) < 0) {
        log_error("%s", err.msg);
        goto out;
    }
    struct api_app app = {.store = store, .engine = engine, .cfg = &cfg};
    struct http_server_opts hopts = {
        .listen = cfg.listen,
        .max_body = (size_t)cfg.max_body_bytes,
        .max_connections = (unsigned)cfg.max_connections,
        .timeout_seconds = (unsigned)cfg.http_timeout,
        .error_body = api_error_body,
    };
    if (http_server_start(&http, &hopts, api_handle, &app, &err) < 0) {
        log_error("%s", err.msg);
        goto out;
    }
    log_info("mmsd listening on %s (port %u), data dir %s, store %s, %lld workers", cfg.listen,
             http_server_port(http), cfg.data_dir, cfg.store, (long long)cfg.workers);

    int sig = 0;
    sigwait(&sigs, &sig);
    log_info("received %s: shutting down (grace %llds)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
             (long long)cfg.shutdown_grace);
    http_server_stop(http, (int)cfg.shutdown_grace);
    http = NULL;
    rc = 0;
out:
    if (http)
        http_server_stop(http, 0);
    engine_stop(engine);
    store_close(store);
    if (rc == 0)
        log_info("mmsd stopped");
    config_release(&cfg);
    return rc;
}
