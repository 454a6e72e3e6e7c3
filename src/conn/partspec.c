#include "conn/partspec.h"
#include "util/buf.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

char *part_spec_decode(const char *s, size_t n)
{
    struct buf b;
    buf_init(&b, BUF_NO_LIMIT);
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && (hi = hexval(s[i + 1])) >= 0 &&
            (lo = hexval(s[i + 2])) >= 0) {
            buf_addc(&b, (char)(hi * 16 + lo));
            i += 2;
        } else {
            buf_addc(&b, s[i]);
        }
    }
    return buf_detach(&b, NULL);
}

void part_spec_release(struct part_spec *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->keys[i]);
        free(p->vals[i]);
    }
    free(p->keys);
    free(p->vals);
    free(p->is_int);
    free(p->ival);
    memset(p, 0, sizeof *p);
}

int part_spec_parse(const char *spec, struct part_spec *out)
{
    memset(out, 0, sizeof *out);
    for (const char *s = spec ? spec : ""; *s;) {
        const char *end = strchr(s, '/');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        const char *eq = memchr(s, '=', len);
        if (!eq || eq == s) {
            part_spec_release(out);
            return -1;
        }
        out->keys = xreallocarray(out->keys, out->n + 1, sizeof *out->keys);
        out->vals = xreallocarray(out->vals, out->n + 1, sizeof *out->vals);
        out->keys[out->n] = part_spec_decode(s, (size_t)(eq - s));
        out->vals[out->n] = part_spec_decode(eq + 1, len - (size_t)(eq - s) - 1);
        if (strcmp(out->vals[out->n], "__HIVE_DEFAULT_PARTITION__") == 0) {
            free(out->vals[out->n]);
            out->vals[out->n] = NULL;
        }
        out->n++;
        s += len + (end ? 1 : 0);
    }
    return out->n ? 0 : -1;
}

const char *part_spec_get(const struct part_spec *p, const char *key, int *found)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->keys[i], key) == 0) {
            *found = 1;
            return p->vals[i];
        }
    *found = 0;
    return NULL;
}
