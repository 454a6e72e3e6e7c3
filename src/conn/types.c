/* Canonical type names: the one spelling shown in the API schema, task logs and the stored
 * catalog. mms_type_parse accepts exactly what mms_type_format writes (case-insensitive, with
 * optional blanks around the parenthesised numbers), so a schema survives JSON round trips. */
#include "conn/types.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* How a type's numbers are spelled. */
enum type_args {
    ARGS_NONE,   /* "int64" */
    ARGS_LENGTH, /* "varchar(20)"; length 0 = unbounded, written without parentheses */
    ARGS_SCALE,  /* "time(3)": fractional second digits; 0 written without parentheses */
    ARGS_DECIMAL /* "decimal(10,2)"; precision 0 = unspecified, written as "decimal" */
};

static const struct {
    enum mms_type_id id;
    const char *name;
    enum type_args args;
} type_names[] = {
    /* clang-format off */
    {MT_BOOL, "bool", ARGS_NONE},
    {MT_INT8, "int8", ARGS_NONE},
    {MT_INT16, "int16", ARGS_NONE},
    {MT_INT32, "int32", ARGS_NONE},
    {MT_INT64, "int64", ARGS_NONE},
    {MT_UINT8, "uint8", ARGS_NONE},
    {MT_UINT16, "uint16", ARGS_NONE},
    {MT_UINT32, "uint32", ARGS_NONE},
    {MT_UINT64, "uint64", ARGS_NONE},
    {MT_FLOAT32, "float32", ARGS_NONE},
    {MT_FLOAT64, "float64", ARGS_NONE},
    {MT_DECIMAL, "decimal", ARGS_DECIMAL},
    {MT_CHAR, "char", ARGS_LENGTH},
    {MT_VARCHAR, "varchar", ARGS_LENGTH},
    {MT_TEXT, "text", ARGS_NONE},
    {MT_BINARY, "binary", ARGS_LENGTH},
    {MT_DATE, "date", ARGS_NONE},
    {MT_TIME, "time", ARGS_SCALE},
    {MT_DATETIME, "datetime", ARGS_SCALE},
    {MT_TIMESTAMP, "timestamp", ARGS_SCALE},
    {MT_JSON, "json", ARGS_NONE},
    {MT_ANY, "any", ARGS_NONE},
    /* clang-format on */
};

#define NTYPES (sizeof type_names / sizeof type_names[0])

void mms_type_format(const struct mms_type *t, char *out, size_t n)
{
    if (n == 0)
        return;
    for (size_t i = 0; i < NTYPES; i++) {
        if (type_names[i].id != t->id)
            continue;
        const char *name = type_names[i].name;
        switch (type_names[i].args) {
        case ARGS_NONE:
            snprintf(out, n, "%s", name);
            return;
        case ARGS_LENGTH:
            if (t->length > 0)
                snprintf(out, n, "%s(%d)", name, (int)t->length);
            else
                snprintf(out, n, "%s", name);
            return;
        case ARGS_SCALE:
            if (t->scale > 0)
                snprintf(out, n, "%s(%d)", name, (int)t->scale);
            else
                snprintf(out, n, "%s", name);
            return;
        case ARGS_DECIMAL:
            if (t->precision > 0)
                snprintf(out, n, "%s(%d,%d)", name, (int)t->precision, (int)t->scale);
            else
                snprintf(out, n, "%s", name);
            return;
        }
    }
    /* Not a type we know: write something a reader recognises as wrong rather than "". */
    snprintf(out, n, "unknown(%d)", (int)t->id);
}

/* ---- parsing ---------------------------------------------------------------------------- */

static const char *skip_blanks(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* A non-negative decimal int32 (leading blanks allowed); NULL when there is none or it
 * overflows. */
static const char *parse_num(const char *s, int32_t *out)
{
    s = skip_blanks(s);
    if (*s < '0' || *s > '9')
        return NULL;
    int64_t v = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (*s - '0');
        if (v > INT32_MAX)
            return NULL;
        s++;
    }
    *out = (int32_t)v;
    return skip_blanks(s);
}

/* Parses "(a)" or "(a,b)" into nums; returns how many numbers (1 or 2) or -1. The string must
 * end right after the ')'. */
static int parse_args(const char *s, int32_t nums[2])
{
    if (*s != '(')
        return -1;
    s = parse_num(s + 1, &nums[0]);
    if (!s)
        return -1;
    int count = 1;
    if (*s == ',') {
        s = parse_num(s + 1, &nums[1]);
        if (!s)
            return -1;
        count = 2;
    }
    if (*s != ')')
        return -1;
    s = skip_blanks(s + 1);
    return *s == '\0' ? count : -1;
}

int mms_type_parse(const char *s, struct mms_type *t)
{
    if (!s)
        return -1;
    s = skip_blanks(s);
    for (size_t i = 0; i < NTYPES; i++) {
        size_t len = strlen(type_names[i].name);
        if (strncasecmp(s, type_names[i].name, len) != 0)
            continue;
        const char *rest = skip_blanks(s + len);
        /* "int8" must not match the prefix of "int16": the name has to end here. */
        if (*rest != '\0' && *rest != '(')
            continue;
        struct mms_type r = {.id = type_names[i].id};
        if (*rest == '\0') {
            *t = r;
            return 0;
        }
        int32_t nums[2] = {0, 0};
        int count = parse_args(rest, nums);
        switch (type_names[i].args) {
        case ARGS_NONE:
            return -1;
        case ARGS_LENGTH:
            if (count != 1)
                return -1;
            r.length = nums[0];
            break;
        case ARGS_SCALE:
            if (count != 1)
                return -1;
            r.scale = nums[0];
            break;
        case ARGS_DECIMAL:
            /* "decimal(p)" is the SQL shorthand for scale 0. */
            if (count < 1 || nums[0] == 0 || nums[1] > nums[0])
                return -1;
            r.precision = nums[0];
            r.scale = count == 2 ? nums[1] : 0;
            break;
        }
        *t = r;
        return 0;
    }
    return -1;
}
