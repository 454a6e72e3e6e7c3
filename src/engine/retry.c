/* Retry policy of migration tasks. See retry.h. */
#include "engine/retry.h"

#include <string.h>

static int get_int(json_t *others, const char *key, int64_t def, int64_t max, int64_t *out,
                   struct mms_err *err)
{
    json_t *v = others ? json_object_get(others, key) : NULL;
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
        return mms_err_set(err, 400, "InvalidParameter.Others",
                           "others.%s must be an integer from 0 to %lld", key, (long long)max);
    *out = json_integer_value(v);
    return 0;
}

int retry_policy_from_others(struct retry_policy *p, json_t *others, struct mms_err *err)
{
    int64_t budget_s = 0;
    if (get_int(others, "maxRetries", RETRY_DEFAULT_MAX, RETRY_MAX_MAX, &p->max_retries, err) < 0 ||
        get_int(others, "retryBudgetSeconds", RETRY_DEFAULT_BUDGET_S, RETRY_MAX_BUDGET_S, &budget_s,
                err) < 0)
        return -1;
    p->budget_ms = budget_s * 1000;
    return 0;
}

bool retry_transient(const struct mms_err *err)
{
    if (err->http != 0 && err->http < 500)
        return false;
    return strcmp(err->code, "ConnectorError.Connect") == 0 ||
           strcmp(err->code, "ConnectorError.Busy") == 0;
}

int64_t retry_backoff_ms(int64_t n, uint64_t rnd)
{
    int64_t d = RETRY_BASE_MS;
    for (int64_t i = 1; i < n && d < RETRY_CAP_MS; i++)
        d *= 2;
    if (d > RETRY_CAP_MS)
        d = RETRY_CAP_MS;
    /* +-20%: 80 + (rnd % 41) percent. */
    int64_t j = d * (80 + (int64_t)(rnd % 41)) / 100;
    return j > RETRY_CAP_MS ? RETRY_CAP_MS : j;
}

bool retry_allowed(const struct retry_policy *p, int64_t n, int64_t first_ms, int64_t now_ms)
{
    return n >= 1 && n <= p->max_retries && now_ms - first_ms < p->budget_ms;
}
