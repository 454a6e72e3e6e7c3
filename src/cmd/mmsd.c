/* mmsd: the MMS API server and its migration engine, and its administration subcommands.
 *
 *   mmsd [options]                          the server (mmsd --help)
 *   mmsd key create|list|disable|delete     access keys   } on the store of --data-dir, also
 *   mmsd policy attach|detach|list          their policies } while the server runs (no lock)
 *
 * Start-up: configuration -> data directory and its lock -> master key -> store -> engine ->
 * HTTP.
 * SIGTERM/SIGINT: stop accepting, let in-flight requests finish (shutdown-grace), stop the
 * engine (running tasks give their work back and resume on the next start), exit 0. */
#include "api/api.h"
#include "auth/auth.h"
#include "auth/keys.h"
#include "auth/secret.h"
#include "engine/engine.h"
#include "store/store.h"
#include "util/config.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
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

/* ---- Subcommands: mmsd key ..., mmsd policy ... ----------------------------------------- */

/* Exit codes of the subcommands. */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

static const char key_usage[] =
    "usage: mmsd key create [--admin] [--json] [--data-dir DIR]\n"
    "       mmsd key list [--json] [--data-dir DIR]\n"
    "       mmsd key disable ID [--data-dir DIR]\n"
    "       mmsd key enable ID [--data-dir DIR]\n"
    "       mmsd key delete ID [--data-dir DIR]\n"
    "       mmsd policy attach --key ID --file POLICY.json [--name NAME] [--data-dir DIR]\n"
    "       mmsd policy detach --key ID --name NAME [--data-dir DIR]\n"
    "       mmsd policy list --key ID [--json] [--data-dir DIR]\n"
    "\n"
    "They work on the store of --data-dir (default $MMS_DATA_DIR or ./var; --store FILE for\n"
    "another SQLite file), also while mmsd runs. key create prints the secret once: it is\n"
    "stored encrypted and never shown again. --admin attaches an allow-all policy; a key\n"
    "without policies may do nothing. policy attach replaces a policy of the same name\n"
    "(default name: the file's base name without .json).\n"
    "Exit codes: 0 done, 1 failed, 2 usage error.\n";

struct sub_opts {
    const char *data_dir;
    const char *store;
    const char *key;
    const char *file;
    const char *name;
    const char *arg; /* the positional ID */
    bool admin, json;
};

static int sub_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sub_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mmsd: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n\n");
    va_end(ap);
    fputs(key_usage, stderr);
    return EXIT_USAGE;
}

static int sub_parse(int argc, char **argv, struct sub_opts *o)
{
    memset(o, 0, sizeof *o);
    o->data_dir = getenv("MMS_DATA_DIR");
    if (!o->data_dir || !*o->data_dir)
        o->data_dir = "./var";
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        if (strcmp(a, "--admin") == 0) {
            o->admin = true;
            continue;
        }
        if (strcmp(a, "--json") == 0) {
            o->json = true;
            continue;
        }
        if (strcmp(a, "--data-dir") == 0)
            dst = &o->data_dir;
        else if (strcmp(a, "--store") == 0)
            dst = &o->store;
        else if (strcmp(a, "--key") == 0)
            dst = &o->key;
        else if (strcmp(a, "--file") == 0)
            dst = &o->file;
        else if (strcmp(a, "--name") == 0)
            dst = &o->name;
        if (dst) {
            if (i + 1 >= argc || !argv[i + 1][0])
                return sub_usage("option %s needs a value", a);
            *dst = argv[++i];
            continue;
        }
        if (strncmp(a, "--", 2) == 0 || a[0] == '-')
            return sub_usage("unknown option %s", a);
        if (o->arg)
            return sub_usage("unexpected argument %s", a);
        o->arg = a;
    }
    return 0;
}

/* Opens the store of the data directory (creating both when missing) and loads the master
 * key. Does not take the data directory lock: the server may be running. */
static int sub_open(const struct sub_opts *o, struct store **store,
                    unsigned char mk[SECRET_KEY_LEN])
{
    struct mms_err err = {0};
    char *path = o->store ? xstrdup(o->store) : xasprintf("%s/mms.db", o->data_dir);
    int rc = EXIT_FAIL;
    if (make_dirs(o->data_dir) < 0) {
        fprintf(stderr, "mmsd: cannot create data directory %s: %s\n", o->data_dir,
                strerror(errno));
        goto out;
    }
    if (secret_master_key(o->data_dir, mk, &err) < 0) {
        fprintf(stderr, "mmsd: %s\n", err.msg);
        goto out;
    }
    if (store_open(store, path, 1, &err) < 0) {
        fprintf(stderr, "mmsd: cannot open the store %s: %s\n", path, err.msg);
        goto out;
    }
    rc = EXIT_OK;
out:
    free(path);
    return rc;
}

static int key_main(int argc, char **argv)
{
    struct sub_opts o;
    if (argc < 1 || strcmp(argv[0], "help") == 0 || strcmp(argv[0], "--help") == 0) {
        fputs(key_usage, argc < 1 ? stderr : stdout);
        return argc < 1 ? EXIT_USAGE : EXIT_OK;
    }
    const char *verb = argv[0];
    bool create = strcmp(verb, "create") == 0, list = strcmp(verb, "list") == 0;
    bool disable = strcmp(verb, "disable") == 0, enable = strcmp(verb, "enable") == 0;
    bool del = strcmp(verb, "delete") == 0;
    if (!create && !list && !disable && !enable && !del)
        return sub_usage("unknown key command '%s'", verb);
    if (sub_parse(argc - 1, argv + 1, &o) != 0)
        return EXIT_USAGE;
    if ((create || list) && o.arg)
        return sub_usage("unexpected argument %s", o.arg);
    if ((disable || enable || del) && !o.arg)
        return sub_usage("key %s needs the access key id", verb);
    if (o.key || o.file || o.name || (o.admin && !create))
        return sub_usage("%s", "option not valid for this key command");

    struct store *store = NULL;
    unsigned char mk[SECRET_KEY_LEN];
    struct mms_err err = {0};
    int rc = sub_open(&o, &store, mk);
    if (rc != EXIT_OK)
        goto out;
    struct db *db = store_acquire(store);
    rc = EXIT_FAIL;
    if (create) {
        char id[KEYS_ID_LEN + 1], secret[KEYS_SECRET_LEN + 1];
        if (keys_create(db, mk, o.admin, id, secret, &err) < 0) {
            fprintf(stderr, "mmsd: %s\n", err.msg);
        } else {
            if (o.json)
                printf("{\"accessKeyId\": \"%s\", \"accessKeySecret\": \"%s\"}\n", id, secret);
            else
                printf("AccessKeyId:     %s\nAccessKeySecret: %s\n%s", id, secret,
                       o.admin ? "policy:          AdministratorAccess (allow all)\n"
                               : "policy:          none yet (mmsd policy attach --key ID "
                                 "--file F)\n");
            fflush(stdout);
            fprintf(stderr, "mmsd: the secret is shown only this once: keep it now\n");
            rc = EXIT_OK;
        }
        secret_wipe(secret, sizeof secret);
    } else if (list) {
        struct access_key *v = NULL;
        size_t n = 0;
        if (keys_list(db, &v, &n, &err) < 0) {
            fprintf(stderr, "mmsd: %s\n", err.msg);
        } else {
            if (o.json) {
                json_t *a = json_array();
                for (size_t i = 0; i < n; i++) {
                    char t[20];
                    time_format(v[i].create_time, t);
                    json_array_append_new(
                        a, json_pack("{s:s, s:s, s:s, s:I}", "accessKeyId", v[i].id, "status",
                                     v[i].active ? "Active" : "Inactive", "createTime", t,
                                     "policies", (json_int_t)v[i].npolicies));
                }
                char *txt = json_dumps(a, JSON_INDENT(2));
                printf("%s\n", txt);
                free(txt);
                json_decref(a);
            } else {
                printf("%-26s %-9s %-20s %s\n", "ACCESS KEY ID", "STATUS", "CREATED",
                       "POLICIES");
                for (size_t i = 0; i < n; i++) {
                    char t[20];
                    time_format(v[i].create_time, t);
                    printf("%-26s %-9s %-20s %lld\n", v[i].id, v[i].active ? "Active" : "Inactive",
                           t, (long long)v[i].npolicies);
                }
            }
            free(v);
            rc = EXIT_OK;
        }
    } else {
        int r = del ? keys_delete(db, o.arg, &err) : keys_set_active(db, o.arg, enable, &err);
        if (r < 0)
            fprintf(stderr, "mmsd: %s\n", err.msg);
        else if (r == 1)
            fprintf(stderr, "mmsd: access key %s does not exist\n", o.arg);
        else {
            printf("access key %s %s\n", o.arg,
                   del ? "deleted" : enable ? "enabled" : "disabled");
            rc = EXIT_OK;
        }
    }
    store_release(store, db);
out:
    store_close(store);
    secret_wipe(mk, sizeof mk);
    return rc;
}

static char *read_text_file(const char *path, size_t max, struct mms_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        mms_err_set(err, 400, "InvalidPolicy.File", "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = xmalloc(max + 2);
    size_t n = fread(buf, 1, max + 1, f);
    bool bad = ferror(f);
    fclose(f);
    if (bad || n > max) {
        mms_err_set(err, 400, "InvalidPolicy.File", "%s is %s", path,
                    bad ? "unreadable" : "too large");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (strlen(buf) != n) {
        mms_err_set(err, 400, "InvalidPolicy.File", "%s contains a NUL byte", path);
        free(buf);
        return NULL;
    }
    return buf;
}

static int policy_main(int argc, char **argv)
{
    struct sub_opts o;
    if (argc < 1 || strcmp(argv[0], "help") == 0 || strcmp(argv[0], "--help") == 0) {
        fputs(key_usage, argc < 1 ? stderr : stdout);
        return argc < 1 ? EXIT_USAGE : EXIT_OK;
    }
    const char *verb = argv[0];
    bool attach = strcmp(verb, "attach") == 0, detach = strcmp(verb, "detach") == 0;
    bool list = strcmp(verb, "list") == 0;
    if (!attach && !detach && !list)
        return sub_usage("unknown policy command '%s'", verb);
    if (sub_parse(argc - 1, argv + 1, &o) != 0)
        return EXIT_USAGE;
    if (o.arg)
        return sub_usage("unexpected argument %s", o.arg);
    if (!o.key)
        return sub_usage("policy %s needs --key ID", verb);
    if (attach && !o.file)
        return sub_usage("%s", "policy attach needs --file POLICY.json");
    if (detach && !o.name)
        return sub_usage("%s", "policy detach needs --name NAME");
    if ((!attach && o.file) || (list && o.name) || o.admin)
        return sub_usage("%s", "option not valid for this policy command");

    struct store *store = NULL;
    unsigned char mk[SECRET_KEY_LEN];
    struct mms_err err = {0};
    char *doc = NULL, *name = NULL;
    int rc = EXIT_FAIL;
    if (attach) {
        doc = read_text_file(o.file, KEYS_POLICY_MAX, &err);
        if (!doc) {
            fprintf(stderr, "mmsd: %s\n", err.msg);
            goto out;
        }
        if (o.name) {
            name = xstrdup(o.name);
        } else {
            const char *b = strrchr(o.file, '/');
            name = xstrdup(b ? b + 1 : o.file);
            size_t l = strlen(name);
            if (l > 5 && strcmp(name + l - 5, ".json") == 0)
                name[l - 5] = '\0';
        }
    }
    rc = sub_open(&o, &store, mk);
    if (rc != EXIT_OK)
        goto out;
    rc = EXIT_FAIL;
    struct db *db = store_acquire(store);
    if (attach) {
        int r = keys_policy_attach(db, o.key, name, doc, &err);
        if (r < 0)
            fprintf(stderr, "mmsd: %s: %s\n", o.file, err.msg);
        else if (r == 1)
            fprintf(stderr, "mmsd: access key %s does not exist\n", o.key);
        else {
            printf("policy %s attached to %s\n", name, o.key);
            rc = EXIT_OK;
        }
    } else if (detach) {
        int r = keys_policy_detach(db, o.key, o.name, &err);
        if (r < 0)
            fprintf(stderr, "mmsd: %s\n", err.msg);
        else if (r == 1)
            fprintf(stderr, "mmsd: access key %s has no policy named %s\n", o.key, o.name);
        else {
            printf("policy %s detached from %s\n", o.name, o.key);
            rc = EXIT_OK;
        }
    } else {
        struct key_policy *v = NULL;
        size_t n = 0;
        bool exists = true;
        struct access_key *keys = NULL;
        size_t nk = 0;
        if (keys_list(db, &keys, &nk, &err) == 0) {
            exists = false;
            for (size_t i = 0; i < nk; i++)
                if (strcmp(keys[i].id, o.key) == 0)
                    exists = true;
            free(keys);
        }
        if (!exists) {
            fprintf(stderr, "mmsd: access key %s does not exist\n", o.key);
        } else if (keys_policy_list(db, o.key, &v, &n, &err) < 0) {
            fprintf(stderr, "mmsd: %s\n", err.msg);
        } else {
            if (o.json) {
                json_t *a = json_array();
                for (size_t i = 0; i < n; i++) {
                    json_t *d = json_loads(v[i].document, 0, NULL);
                    json_array_append_new(a, json_pack("{s:s, s:o}", "name", v[i].name,
                                                       "document", d ? d : json_null()));
                }
                char *txt = json_dumps(a, JSON_INDENT(2));
                printf("%s\n", txt);
                free(txt);
                json_decref(a);
            } else {
                for (size_t i = 0; i < n; i++)
                    printf("%s\t%s\n", v[i].name, v[i].document);
            }
            keys_policy_list_free(v, n);
            rc = EXIT_OK;
        }
    }
    store_release(store, db);
out:
    store_close(store);
    secret_wipe(mk, sizeof mk);
    free(doc);
    free(name);
    return rc;
}

/* ---- The server -------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "key") == 0)
        return key_main(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "policy") == 0)
        return policy_main(argc - 2, argv + 2);

    struct mms_config cfg;
    struct mms_err err = {0};
    struct store *store = NULL;
    struct engine *engine = NULL;
    struct http_server *http = NULL;
    static unsigned char master_key[SECRET_KEY_LEN];
    static struct auth_ctx auth;
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
    if (secret_master_key(cfg.data_dir, master_key, &err) < 0) {
        log_error("%s", err.msg);
        goto out;
    }
    auth = (struct auth_ctx){
        .enabled = !cfg.insecure_no_auth,
        .region = cfg.region,
        .account = cfg.account_id,
        .debug_signature = cfg.auth_debug_signature != 0,
        .master_key = master_key,
        .clock_skew_seconds = cfg.clock_skew_seconds,
    };
    auth_configure(&auth);
    if (cfg.insecure_no_auth)
        log_warn("--insecure-no-auth: requests are NOT authenticated and every caller may do "
                 "everything; for local development only (listening on %s)",
                 cfg.listen);
    if (cfg.auth_debug_signature)
        log_warn("--auth-debug-signature: signature errors show the server's string-to-sign");
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
        .tls_cert_file = cfg.tls_cert,
        .tls_key_file = cfg.tls_key,
    };
    if (http_server_start(&http, &hopts, api_handle, &app, &err) < 0) {
        log_error("%s", err.msg);
        goto out;
    }
    log_info("mmsd listening on %s (port %u, %s, %s), data dir %s, store %s, %lld workers",
             cfg.listen, http_server_port(http), cfg.tls_cert[0] ? "HTTPS" : "HTTP",
             cfg.insecure_no_auth ? "NO AUTHENTICATION" : "signed requests only", cfg.data_dir,
             cfg.store, (long long)cfg.workers);

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
    auth_configure(NULL);
    secret_wipe(master_key, sizeof master_key);
    if (rc == 0)
        log_info("mmsd stopped");
    config_release(&cfg);
    return rc;
}
