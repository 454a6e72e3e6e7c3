#include "engine/task_state.h"

#include <string.h>

const char *const task_statuses[] = {
    "INIT",      "SCHEMA_DOING", "SCHEMA_DONE",        "SCHEMA_FAILED",
    "DATA_DOING", "DATA_DONE",   "DATA_FAILED",        "VERIFICATION_DOING",
    "VERIFICATION_DONE", "VERIFICATION_FAILED", "DONE", NULL,
};

static const char *const doing[] = {"SCHEMA_DOING", "DATA_DOING", "VERIFICATION_DOING", "DONE"};
static const char *const done[] = {"SCHEMA_DONE", "DATA_DONE", "VERIFICATION_DONE", "DONE"};
static const char *const failed[] = {"SCHEMA_FAILED", "DATA_FAILED", "VERIFICATION_FAILED",
                                     "DONE"};

bool task_status_valid(const char *status)
{
    for (int i = 0; task_statuses[i]; i++)
        if (strcmp(task_statuses[i], status) == 0)
            return true;
    return false;
}

bool task_status_failed(const char *status)
{
    size_t n = strlen(status);
    return n > 7 && strcmp(status + n - 7, "_FAILED") == 0;
}

bool task_status_terminal(const char *status)
{
    return strcmp(status, "DONE") == 0 || task_status_failed(status);
}

enum task_stage task_status_next_stage(const char *status)
{
    if (strcmp(status, "INIT") == 0)
        return STAGE_SCHEMA;
    if (strcmp(status, "DONE") == 0)
        return STAGE_FINISHED;
    for (int s = STAGE_SCHEMA; s <= STAGE_VERIFY; s++) {
        if (strcmp(status, doing[s]) == 0 || strcmp(status, failed[s]) == 0)
            return (enum task_stage)s;
        if (strcmp(status, done[s]) == 0)
            return (enum task_stage)(s + 1);
    }
    return STAGE_SCHEMA;
}

const char *task_stage_doing(enum task_stage s)
{
    return doing[s];
}

const char *task_stage_done(enum task_stage s)
{
    return done[s];
}

const char *task_stage_failed(enum task_stage s)
{
    return failed[s];
}

const char *task_status_retry_from(const char *status)
{
    if (strcmp(status, "SCHEMA_FAILED") == 0)
        return "INIT";
    if (strcmp(status, "DATA_FAILED") == 0 || strcmp(status, "VERIFICATION_FAILED") == 0)
        return "SCHEMA_DONE";
    return NULL;
}
