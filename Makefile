# mms build. `make` builds bin/mmsd; `make run` and `make test` also install what is missing.
# Two builds share the sources: build/rel (optimised) and build/asan (address+undefined sanitizers).

CC      ?= cc
PKGS     = libmicrohttpd jansson sqlite3 libpq libmariadb libcrypto
WARN     = -std=c17 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wformat=2 -Wvla -Wwrite-strings -Wpointer-arith
ifeq ($(WERROR),1)
WARN    += -Werror
endif
DEFS     = -D_GNU_SOURCE
CFLAGS_COMMON = $(WARN) $(DEFS) -Isrc $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -MMD -MP
LDLIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm

REL_CFLAGS  = $(CFLAGS_COMMON) -O2 -g
ASAN_CFLAGS = $(CFLAGS_COMMON) -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
              -fno-sanitize-recover=undefined
ASAN_LDFLAGS = -fsanitize=address,undefined

LIB_SRC  = $(sort $(wildcard src/util/*.c src/http/*.c src/api/*.c src/store/*.c \
                             src/engine/*.c src/conn/*.c src/auth/*.c))
CMD_SRC  = src/cmd/mmsd.c
UNIT_SRC = $(sort $(wildcard tests/unit/test_*.c))

REL_OBJ  = $(LIB_SRC:%.c=build/rel/%.o)
ASAN_OBJ = $(LIB_SRC:%.c=build/asan/%.o)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=build/asan/tests/%)

.PHONY: all asan deps test-deps run test unit api e2e bench clean format

all: bin/mmsd

deps:
	@scripts/install-deps.sh

test-deps:
	@scripts/install-deps.sh --test

bin/mmsd: $(REL_OBJ) build/rel/src/cmd/mmsd.o
	@mkdir -p bin
	$(CC) -o $@ $(filter %.o,$^) $(LDLIBS)

build/asan/mmsd: $(ASAN_OBJ) build/asan/src/cmd/mmsd.o
	$(CC) $(ASAN_LDFLAGS) -o $@ $(filter %.o,$^) $(LDLIBS)

asan: build/asan/mmsd $(UNIT_BIN)

build/rel/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(REL_CFLAGS) -c -o $@ $<

build/asan/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -c -o $@ $<

build/asan/tests/%: tests/unit/%.c $(ASAN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) $(ASAN_LDFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS) -lcmocka

# `make run`: install, build, start mmsd on the embedded SQLite store in ./var.
run: deps
	@$(MAKE) --no-print-directory all
	@echo "mmsd: every request must be signed. Create the first access key (admin; the secret is shown once):"
	@echo "  bin/mmsd key create --admin --data-dir $${MMS_DATA_DIR:-./var}"
	@echo "then sign requests with scripts/mms-curl (README.md, 'Five minutes with curl')."
	./bin/mmsd --listen $${MMS_LISTEN:-127.0.0.1:8080} --data-dir $${MMS_DATA_DIR:-./var}

# `make test`: install, build both flavours, run unit tests (ASan), API tests (against the
# ASan mmsd), end-to-end tests (optimised mmsd, real SQLite files, kill -9 recovery).
test: test-deps
	@$(MAKE) --no-print-directory all asan
	@scripts/run-tests.sh

unit: asan
	@scripts/run-tests.sh unit

api: all asan
	@scripts/run-tests.sh api

e2e: all
	@scripts/run-tests.sh e2e

bench: deps all
	bench/api.sh
	bench/migrate.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build bin

-include $(REL_OBJ:.o=.d) $(ASAN_OBJ:.o=.d) $(UNIT_BIN:=.d) build/rel/src/cmd/mmsd.d build/asan/src/cmd/mmsd.d
