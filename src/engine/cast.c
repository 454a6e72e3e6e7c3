/* Opt-in casts. See cast.h; docs/types.md "Opt-in casts" is the user's description. */
#include "engine/cast.h"
#include "util/str.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    unsigned bit;
} casts_known[] = {
    {"zeroDateToNull", CONN_CAST_ZERO_DATE_NULL},
    {"negativeZeroToZero", CONN_CAST_NEG_ZERO},
    {"nanToNull", CONN_CAST_NAN_NULL},
    {"stripNul", CONN_CAST_STRIP_NUL},
};
#define NCASTS (sizeof casts_known / sizeof casts_known[0])

#define VALID_NAMES "zeroDateToNull, negativeZeroToZero, nanToNull, stripNul"
/* Bytes of an unknown name quoted back in an error message. */
#define SHOW_MAX 40

/* ================================================================ Parsing */

int cast_parse(json_t *others, unsigned *out, struct mms_err *err)
{
    *out = 0;
    json_t *a = others ? json_object_get(others, "casts") : NULL;
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a))
        return mms_err_set(err, 400, "InvalidParameter.Casts",
                           "others.casts must be an array of cast names (valid: " VALID_NAMES
                           ")");
    unsigned bits = 0;
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e)
    {
        if (!json_is_string(e))
            return mms_err_set(err, 400, "InvalidParameter.Casts",
                               "others.casts[%zu] must be a string, one of: " VALID_NAMES, i);
        const char *s = json_string_value(e);
        size_t len = json_string_length(e);
        size_t k = 0;
        while (k < NCASTS &&
               !(strlen(casts_known[k].name) == len && memcmp(casts_known[k].name, s, len) == 0))
            k++;
        if (k == NCASTS) {
            char shown[SHOW_MAX * 4 + 8];
            str_show(shown, sizeof shown, s, len, SHOW_MAX);
            return mms_err_set(err, 400, "InvalidParameter.Casts",
                               "others.casts[%zu] \"%s\" is not a known cast; valid casts: "
                               VALID_NAMES,
                               i, shown);
        }
        if (bits & casts_known[k].bit)
            return mms_err_set(err, 400, "InvalidParameter.Casts",
                               "others.casts[%zu] \"%s\" is given twice (valid casts: "
                               VALID_NAMES ")",
                               i, casts_known[k].name);
        bits |= casts_known[k].bit;
    }
    *out = bits;
    return 0;
}

void cast_describe(unsigned casts, char *buf, size_t n)
{
    if (n == 0)
        return;
    buf[0] = '\0';
    size_t o = 0;
    for (size_t k = 0; k < NCASTS; k++) {
        if (!(casts & casts_known[k].bit))
            continue;
        int w = snprintf(buf + o, n - o, "%s%s", o ? ", " : "", casts_known[k].name);
        if (w < 0 || (size_t)w >= n - o)
            return; /* cut: snprintf has NUL-terminated what fits */
        o += (size_t)w;
    }
}

/* ================================================================ Applying */

/* Removes the NUL bytes of p[0..len) in place; returns the new length. The first NUL is at z.
 * Everything moves left inside the value's own bytes, so no other value of the arena (they never
 * share bytes: rowbatch_set_bytes appends each value) is touched. */
static size_t strip_nul(char *p, size_t len, char *z)
{
    char *w = z;
    const char *r = z + 1, *end = p + len;
    while (r < end) {
        const char *q = memchr(r, '\0', (size_t)(end - r));
        size_t k = (size_t)((q ? q : end) - r);
        memmove(w, r, k);
        w += k;
        if (!q)
            break;
        r = q + 1;
    }
    return (size_t)(w - p);
}

size_t cast_apply(unsigned casts, struct rowbatch *b)
{
    casts &= CAST_ENGINE_BITS;
    if (!casts || !b->nrows || !b->ncols)
        return 0;
    const bool neg_zero = casts & CONN_CAST_NEG_ZERO;
    const bool nan_null = casts & CONN_CAST_NAN_NULL;
    const bool strip = casts & CONN_CAST_STRIP_NUL;
    size_t changed = 0;
    struct val *v = b->vals, *end = b->vals + b->nrows * b->ncols;
    for (; v < end; v++) {
        if (v->kind == VAL_DOUBLE) {
            double d = v->v.d;
            if (nan_null && !isfinite(d)) {
                /* The state rowbatch_add_row gives a NULL value. */
                v->kind = VAL_NULL;
                v->len = 0;
                v->v.u = 0;
                changed++;
            } else if (neg_zero && d == 0.0 && signbit(d)) {
                v->v.d = 0.0;
                changed++;
            }
        } else if (strip && v->kind == VAL_TEXT && v->len) {
            char *p = b->arena.p + v->v.off;
            char *z = memchr(p, '\0', v->len);
            if (z) {
                v->len = (uint32_t)strip_nul(p, v->len, z);
                changed++;
            }
        }
    }
    return changed;
}
