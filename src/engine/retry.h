/* Automatic retry of migration tasks after transient failures (docs/engine.md "Retries").
 *
 * A stage that fails with a transient error (the connection was lost or refused, the server
 * is restarting or busy) is run again after a backoff instead of ending *_FAILED: 1 s, 2 s,
 * 4 s ... capped at 60 s, each with +-20% jitter, within a budget of job others.maxRetries
 * automatic retries (default 5) and others.retryBudgetSeconds (default 300) since the first
 * failure. Permanent errors (schema mismatch, bad values, configuration, a missing object,
 * store errors) fail at once. */
#ifndef MMS_RETRY_H
#define MMS_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "util/err.h"

#define RETRY_DEFAULT_MAX 5
#define RETRY_DEFAULT_BUDGET_S 300
#define RETRY_BASE_MS 1000
#define RETRY_CAP_MS 60000
/* Upper bounds accepted for the job's others.* values. */
#define RETRY_MAX_MAX 1000
#define RETRY_MAX_BUDGET_S (7 * 24 * 3600)

struct retry_policy {
    int64_t max_retries; /* automatic retries allowed (0 = none) */
    int64_t budget_ms;   /* since the first failure */
};

/* Reads others.maxRetries and others.retryBudgetSeconds (absent or null = default; others may
 * be NULL). -1 with a 400 TaskError.Config / InvalidParameter.Others message when a value is
 * not an integer in range. */
int retry_policy_from_others(struct retry_policy *p, json_t *others, struct mms_err *err);
/* Transient: ConnectorError.Connect or ConnectorError.Busy reported as a server-side (5xx, or
 * unset) failure. A 4xx Connect (the SQLite connector's "no such file", a bad path) is a
 * configuration problem and permanent. */
bool retry_transient(const struct mms_err *err);
/* The delay before automatic retry number n (1-based): min(60 s, 1 s * 2^(n-1)) with jitter
 * from rnd (any 64-bit value): the result lies in [0.8, 1.2] x that, and at most 60 s. */
int64_t retry_backoff_ms(int64_t n, uint64_t rnd);
/* Whether retry number n (1-based) is allowed when the first failure was at first_ms and it is
 * now now_ms. */
bool retry_allowed(const struct retry_policy *p, int64_t n, int64_t first_ms, int64_t now_ms);

#endif
