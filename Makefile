# celeriac: one Makefile. Objects sit beside their sources, programs in bin/.
# `override` keeps our flags when CFLAGS is given on the command line; .flags
# rebuilds everything when the flags (e.g. SANITIZE) change.
#
#   make            build bin/celeriac, bin/celeriac-webapp, bin/celeriac-worker
#   make run        install what is missing, build, start the local stack
#   make test       install what is missing, build, run every test
#   make SANITIZE=1 test   the same under ASan + UBSan
#   make bench      the benchmark (results: docs/benchmarks.md)
#   make install    PREFIX=/usr/local DESTDIR=: programs, migrations, docs

CC ?= cc
CFLAGS ?= -O2 -g
PKGS = librabbitmq libpq libcjson libcurl libxml-2.0 libmicrohttpd uuid libcmark vips

ifeq ($(filter deps run clean test bench,$(MAKECMDGOALS)),)
ifneq ($(shell pkg-config --exists $(PKGS) && echo ok),ok)
$(error missing development packages: run `make deps` (or `compose/install-deps build`))
endif
endif

override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wformat=2 -Wshadow \
                   -Wno-missing-field-initializers -I. -MMD -MP \
                   $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
override LDLIBS += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -lpthread
# Each program loads only the libraries it calls (the worker needs no HTTP
# server): fewer mappings and relocated pages in every forked child.
override LDFLAGS += -Wl,--as-needed
ifeq ($(SANITIZE),1)
override CFLAGS  += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
override LDFLAGS += -fsanitize=address,undefined
endif

COMMON_OBJ = common/buf.o common/log.o common/config.o common/json.o common/uuid.o common/clock.o \
             common/cron.o common/strset.o
BROKER_OBJ = broker/celery.o broker/conn.o broker/table.o broker/topology.o broker/publish.o \
             broker/consume.o broker/admin.o
STORE_OBJ  = sql/store.o sql/store_engine.o sql/store_tasks.o sql/store_workers.o sql/store_pool.o sql/store_articles.o sql/store_files.o sql/store_chat.o sql/store_events.o sql/store_stats.o sql/store_queues.o sql/migrate.o sql/migrations.o
CLIENT_OBJ = client/producer.o client/scheduler.o # above broker/ and sql/: the webapp, the CLI, the sweeper
SCRAPER_OBJ = $(patsubst %.c,%.o,$(sort $(wildcard scraper/*.c))) # knows no tables, no queue
CONVERT_OBJ = $(patsubst %.c,%.o,$(sort $(wildcard convert/*.c))) # likewise
# What a file is (convert/format.c) links nothing but libc: the webapp, which
# never converts, names and sniffs files with it.
FORMAT_OBJ = convert/format.o
CORE_OBJ   = $(COMMON_OBJ) $(BROKER_OBJ) $(STORE_OBJ) $(CLIENT_OBJ)
WORKER_OBJ = worker/master.o worker/child.o worker/engine.o worker/registry.o worker/task.o worker/tasks/demo.o worker/tasks/cleanup.o worker/tasks/scrape.o \
             worker/tasks/convert.o worker/tasks/chat.o worker/revoked.o
WEBAPP_OBJ = webapp/server.o webapp/routes.o webapp/api.o webapp/pages.o webapp/html.o \
             webapp/dbpool.o webapp/articles.o webapp/sites.o webapp/files.o webapp/chat.o \
             webapp/events.o webapp/dashboard.o webapp/metrics.o webapp/queues.o webapp/workers.o

BINS = bin/celeriac bin/celeriac-worker bin/celeriac-webapp
all: $(BINS)

bin/celeriac:        cli/main.o cli/periodic.o cli/scrape.o cli/convert.o $(CORE_OBJ) $(SCRAPER_OBJ) $(CONVERT_OBJ)
bin/celeriac-worker: worker/main.o $(WORKER_OBJ) $(CORE_OBJ) $(SCRAPER_OBJ) $(CONVERT_OBJ)
bin/celeriac-webapp: webapp/main.o $(WEBAPP_OBJ) $(CORE_OBJ) $(FORMAT_OBJ)
$(BINS):
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

sql/migrations.c: sql/gen-migrations.sh $(sort $(wildcard sql/[0-9][0-9][0-9]_*.sql))
	sh sql/gen-migrations.sh $(sort $(wildcard sql/[0-9][0-9][0-9]_*.sql)) > $@

# Unit tests: one cmocka program per test/unit/test_*.c, linked with everything
# but the programs' main.o.
UNIT = $(patsubst %.c,%,$(wildcard test/unit/test_*.c))
$(UNIT): %: %.o $(CORE_OBJ) $(WORKER_OBJ) $(WEBAPP_OBJ) $(SCRAPER_OBJ) $(CONVERT_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# Fuzz targets: built with test/fuzz/replay.c, they replay their corpus in
# `make test`; `make fuzz` (clang + libFuzzer) explores for FUZZ_SECONDS each,
# reading the seeds in test/fuzz/corpus/ and writing what it finds (new inputs,
# crashes) to test/fuzz/out/: copy a crash into the seeds as a regression.
FUZZ = $(patsubst %.c,%,$(wildcard test/fuzz/fuzz_*.c))
$(FUZZ): %: %.o test/fuzz/replay.o $(CORE_OBJ) $(WEBAPP_OBJ) $(SCRAPER_OBJ) $(CONVERT_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
FUZZ_SECONDS ?= 60
fuzz: sql/migrations.c
	@command -v clang >/dev/null || { echo "make fuzz needs clang and libclang-rt-14-dev"; exit 2; }
	@mkdir -p test/fuzz/out
	@for t in $(FUZZ); do name=$$(basename $$t); \
	  clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -I. \
	    $$(pkg-config --cflags $(PKGS)) -o test/fuzz/out/$$name $$t.c \
	    $(CORE_OBJ:.o=.c) \
	    $(WEBAPP_OBJ:.o=.c) $(SCRAPER_OBJ:.o=.c) $(CONVERT_OBJ:.o=.c) $(LDLIBS) && \
	  mkdir -p test/fuzz/out/corpus-$$name && \
	  test/fuzz/out/$$name -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=test/fuzz/out/ \
	    test/fuzz/out/corpus-$$name test/fuzz/corpus/$${name#fuzz_} || exit 1; done

test/bench/bench: test/bench/bench.o $(CORE_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
# The scraper's extraction alone: fixture pages parsed per second.
test/bench/extract: test/bench/extract.o $(SCRAPER_OBJ) common/buf.o common/clock.o
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
# The converters alone: a CSV and a JPEG converted per second, in a forked child.
test/bench/convert: test/bench/convert.o $(CONVERT_OBJ) common/buf.o common/json.o common/clock.o
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
# RabbitMQ's own ceilings: rabbitmq-c alone, none of celeriac's code.
test/bench/ceiling: test/bench/ceiling.o
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs librabbitmq)

.flags: FORCE
	@echo '$(CC) $(CFLAGS) $(LDFLAGS)' | cmp -s - $@ || echo '$(CC) $(CFLAGS) $(LDFLAGS)' > $@
%.o: %.c .flags
	$(CC) $(CFLAGS) -c -o $@ $<

deps:
	compose/install-deps build run test

unit: $(UNIT) $(FUZZ)
	@UNIT_ONLY=1 test/run $(UNIT) $(FUZZ)

test: deps
	@$(MAKE) --no-print-directory all $(UNIT) $(FUZZ)
	@test/run $(UNIT) $(FUZZ)

run: deps
	@$(MAKE) --no-print-directory all
	compose/local run

bench: deps
	compose/install-deps bench
	@$(MAKE) --no-print-directory all test/bench/bench test/bench/ceiling test/bench/extract \
	    test/bench/convert
	test/bench/run
	BENCH_RABBITMQ_NODES=1 test/bench/run queues
	test/bench/run queues

clean:
	rm -f $(BINS) $(UNIT) $(FUZZ) test/bench/bench test/bench/ceiling test/bench/extract \
	      test/bench/convert sql/migrations.c .flags
	find . -name '*.o' -o -name '*.d' | xargs rm -f

# make install [PREFIX=/usr/local] [DESTDIR=]: the three programs, which need nothing
# else at run time (migrations and the pages' CSS/JS are compiled in), and for people:
# the migrations (share/celeriac/sql, to read; `celeriac migrate` uses its own copy),
# each program's --help (share/doc/celeriac/NAME.txt) and the docs.
PREFIX ?= /usr/local
BINDIR = $(DESTDIR)$(PREFIX)/bin
SQLDIR = $(DESTDIR)$(PREFIX)/share/celeriac/sql
DOCDIR = $(DESTDIR)$(PREFIX)/share/doc/celeriac
install: $(BINS)
	install -d "$(BINDIR)" "$(SQLDIR)" "$(DOCDIR)/docs"
	install -m 755 $(BINS) "$(BINDIR)/"
	install -m 644 $(sort $(wildcard sql/[0-9][0-9][0-9]_*.sql)) "$(SQLDIR)/"
	install -m 644 README.md "$(DOCDIR)/"
	install -m 644 docs/*.md "$(DOCDIR)/docs/"
	for b in $(notdir $(BINS)); do "$(BINDIR)/$$b" --help > "$(DOCDIR)/$$b.txt" || exit 1; done

uninstall:
	rm -f $(addprefix "$(BINDIR)/,$(addsuffix ",$(notdir $(BINS))))
	rm -rf "$(DESTDIR)$(PREFIX)/share/celeriac" "$(DOCDIR)"

-include $(wildcard */*.d */*/*.d)
.PHONY: all deps unit test run bench fuzz clean install uninstall FORCE
