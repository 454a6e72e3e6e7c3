/* libFuzzer entry point for the partition filter parser and evaluator (src/engine/pfilter.c).
 * Not part of `make test`; run it by hand:
 *
 *   clang -g -O1 -D_GNU_SOURCE -Isrc -fsanitize=fuzzer,address,undefined \
 *       tests/fuzz/fuzz_pfilter.c src/engine/pfilter.c src/util/[a-z]*.c src/conn/types.c \
 *       -ljansson -o build/fuzz_pfilter
 *   build/fuzz_pfilter -max_len=4200 -max_total_time=60
 *
 * Input: the expression, optionally followed by a NUL and a partition spec (else a fixed spec).
 * Checks: no crash / leak / UB; every error message is valid UTF-8 and fits in struct mms_err;
 * a filter that fails pfilter_check also fails pfilter_match. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "engine/pfilter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_msg(const struct mms_err *err)
{
    json_t *j = json_string(err->msg);
    if (!j || strlen(err->msg) >= sizeof err->msg - 1 || err->http == 0)
        abort();
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char n1[] = "p1", n2[] = "p2", n3[] = "p3", n4[] = "p4";
    static struct conn_column cols[] = {
        {.name = n1, .type = {.id = MT_DATE}},
        {.name = n2, .type = {.id = MT_INT64}},
        {.name = n3, .type = {.id = MT_UINT64}},
        {.name = n4, .type = {.id = MT_TEXT}},
    };
    static const struct conn_schema keys = {.pcols = cols, .npcols = 4};
    char *expr = malloc(size + 1);
    memcpy(expr, data, size);
    expr[size] = '\0';
    size_t elen = strlen(expr);
    const char *spec = elen < size ? expr + elen + 1 : "p1=2022-03-04/p2=10/p3=%31/p4=a%2Fb";

    struct pfilter *f = NULL;
    struct mms_err err = {0};
    if (pfilter_parse(expr, &f, &err) < 0) {
        check_msg(&err);
    } else {
        struct mms_err err2 = {0};
        bool out;
        int crc = pfilter_check(f, &keys, &err);
        int mrc = pfilter_match(f, spec, &keys, &out, &err2);
        if (crc < 0) {
            check_msg(&err);
            if (mrc == 0)
                abort();
        }
        if (mrc < 0)
            check_msg(&err2);
        pfilter_free(f);
    }
    free(expr);
    return 0;
}
