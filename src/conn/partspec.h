/* Partition specs "k1=v1/k2=v2", as the catalog, the tasks and the connectors name partitions.
 * Keys and values are Hive-escaped in the spec (docs/files-format.md): "%XX" (two hex digits)
 * is that byte, any other '%' is itself. Hive's __HIVE_DEFAULT_PARTITION__ (its NULL partition)
 * is returned as a NULL value. */
#ifndef MMS_PARTSPEC_H
#define MMS_PARTSPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct part_spec {
    size_t n;
    char **keys;  /* decoded, owned */
    char **vals;  /* decoded, owned; NULL = the NULL partition */
    /* Filled by a destination connector that matches the keys to its integer columns (NULL
     * until then): is_int[i] says key i compares as an integer, ival[i] its value. */
    bool *is_int;
    int64_t *ival;
};

/* Parses spec; 0, or -1 when it is empty or a level is not "k=v" with a non-empty k (then out
 * is empty). Release with part_spec_release. */
int part_spec_parse(const char *spec, struct part_spec *out);
void part_spec_release(struct part_spec *p);
/* The value of key (exact name), or NULL; *found tells a missing key from a NULL value. */
const char *part_spec_get(const struct part_spec *p, const char *key, int *found);
/* Hive's unescapePathName of n bytes; caller frees. */
char *part_spec_decode(const char *s, size_t n);

#endif
