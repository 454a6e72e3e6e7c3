/* The DATASOURCE_* async tasks (queued by api_datasource.c):
 *   DATASOURCE_START  connect to and ping the source (conn_find(type)->open_source(config)) and
 *                     the destination (conn_find_scheme(dst.url)->open_dest(url)) with the
 *                     stored config -> source STARTED, task DONE {"status":"STARTED"}; or
 *                     START_FAILED with errMsg, task FAILED with the same errorMsg
 *   DATASOURCE_STOP   no agent process to stop -> STOPPED, task DONE {"status":"STOPPED"}
 *   DATASOURCE_TEST   the same probe on params.config (else the stored config); the status
 *                     does not change -> DONE {"source":"ok","destination":"ok"}, or FAILED
 *                     with the error text and a result saying which side failed
 * The final write goes through store_datasource_op_finish: the async task's fenced finish and
 * the status change commit together, and nothing is written when the lease was lost.
 * Connector messages may quote the config (a URL, a path): secrets are redacted from them. */
#include "conn/configitems.h"
#include "conn/conn.h"
#include "engine/engine.h"
#include "store/store_asynctask.h"
#include "store/store_datasource.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>

/* Opens, pings and closes the source described by config. */
static int probe_source(const char *type, json_t *config, struct mms_err *err)
{
    const struct conn_ops *ops = conn_find(type);
    struct conn *c = NULL;
    if (!ops || !ops->open_source)
        return mms_err_set(err, 400, "ConnectorError.Type", "no connector for data-source type %s",
                           type);
    if (ops->open_source(&c, config, err) < 0)
        return -1;
    int rc = ops->ping(c, err);
    ops->close(c);
    return rc;
}

/* Opens, pings and closes the destination named by config's dst.url. */
static int probe_dest(json_t *config, struct mms_err *err)
{
    const char *url = json_string_value(json_object_get(config, "dst.url"));
    if (!url || !*url)
        return mms_err_set(err, 400, "ConnectorError.Config", "dst.url is not set");
    const struct conn_ops *ops = conn_find_scheme(url);
    struct conn *c = NULL;
    if (!ops || !ops->open_dest)
        return mms_err_set(err, 400, "ConnectorError.Config",
                           "no connector for the scheme of dst.url");
    if (ops->open_dest(&c, url, err) < 0)
        return -1;
    int rc = ops->ping(c, err);
    ops->close(c);
    return rc;
}

/* Appends "<side>: <message>" (secrets redacted) to msg. */
static void add_failure(struct buf *msg, const char *side, const struct config_item *items,
                        json_t *config, const struct mms_err *e)
{
    char *clean = configitems_redact(items, config, e->msg[0] ? e->msg : e->code);
    buf_printf(msg, "%s%s: %s", msg->len ? "; " : "", side, clean);
    free(clean);
}

void exec_datasource_op(struct work *w, const char *type, json_t *params, int64_t source_id)
{
    struct mms_err err = {0};
    struct datasource d = {0};
    struct buf msg;
    char *result = NULL;
    bool loaded = false;
    buf_init(&msg, 16384);

    bool start = strcmp(type, "DATASOURCE_START") == 0;
    bool stop = strcmp(type, "DATASOURCE_STOP") == 0;
    bool test = strcmp(type, "DATASOURCE_TEST") == 0;
    if (!start && !stop && !test) {
        store_async_finish(w->db, w->id, w->attempt, false, NULL, "unknown data-source operation",
                           &err);
        goto out;
    }
    int rc = store_datasource_get(w->db, source_id, &d, &err);
    if (rc != 0) {
        /* Gone (the async task went with it, so this write finds nothing) or a store error. */
        store_async_finish(w->db, w->id, w->attempt, false, NULL,
                           rc == 1 ? "the data source no longer exists" : "store error", &err);
        goto out;
    }
    loaded = true;

    if (stop) {
        rc = store_datasource_op_finish(w->db, w->id, w->attempt, source_id, true,
                                        "{\"status\":\"STOPPED\"}", NULL, "STOPPING", "STOPPED",
                                        &err);
        if (rc == 0)
            log_info("data source %lld stopped", (long long)source_id);
        goto out;
    }

    json_t *config = d.config;
    json_t *given = json_object_get(params, "config");
    if (test && json_is_object(given)) {
        config = given;
        struct mms_err oerr = {0};
        if (store_datasource_config_open(d.type, config, &oerr) < 0)
            log_error("cannot decrypt the tested config's secrets: %s", oerr.msg);
    }
    const struct config_item *items = configitems_find(d.type);

    struct mms_err src_err = {0}, dst_err = {0};
    int src_rc = probe_source(d.type, config, &src_err);
    enum work_beat beat = work_heartbeat(w);
    if (beat == WORK_LOST)
        goto out;
    if (beat == WORK_STOP) {
        work_release(w); /* shutting down: resume on the next start */
        goto out;
    }
    int dst_rc = probe_dest(config, &dst_err);
    if (src_rc < 0)
        add_failure(&msg, "source", items, config, &src_err);
    if (dst_rc < 0)
        add_failure(&msg, "destination", items, config, &dst_err);
    bool ok = src_rc == 0 && dst_rc == 0;

    if (start) {
        rc = store_datasource_op_finish(
            w->db, w->id, w->attempt, source_id, ok, ok ? "{\"status\":\"STARTED\"}" : NULL,
            ok ? NULL : buf_str(&msg), "STARTING", ok ? "STARTED" : "START_FAILED", &err);
        if (rc == 0)
            log_info("data source %lld %s%s", (long long)source_id,
                     ok ? "started" : "failed to start: ", ok ? "" : buf_str(&msg));
    } else {
        result = xasprintf("{\"source\":\"%s\",\"destination\":\"%s\"}",
                           src_rc == 0 ? "ok" : "failed", dst_rc == 0 ? "ok" : "failed");
        rc = store_datasource_op_finish(w->db, w->id, w->attempt, source_id, ok, result,
                                        ok ? NULL : buf_str(&msg), NULL, NULL, &err);
        if (rc == 0)
            log_info("data source %lld config test: %s", (long long)source_id,
                     ok ? "ok" : buf_str(&msg));
    }
    if (rc == 1)
        log_warn("lease lost; the result of this attempt was not written");
out:
    if (err.http >= 500)
        log_error("data source %lld %s: %s", (long long)source_id, type, err.msg);
    if (loaded)
        datasource_release(&d);
    buf_release(&msg);
    free(result);
}
