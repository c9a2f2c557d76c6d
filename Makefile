# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-dates lint format bench migrate demo clean

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip==24.3.1
	$(BIN)/pip install -q -c requirements.lock -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/autopilot serve

# The suite spreads its files over TEST_WORKERS processes (pytest-xdist; auto: one per CPU), each
# file's tests in one process, in order. Its tests start servers, CLIs and workers, so a run is
# CPU-bound: on a 2-core machine two workers took it from 23 to 15 minutes. TEST_WORKERS=0 runs
# it in this process alone. Files go out in collection order (--no-loadscope-reorder: xdist would
# put the files with the most tests first), which tests/conftest.py starts with the longest ones.
TEST_WORKERS ?= auto
PYTEST := $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test: lint
	$(PYTEST); rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

# The tests marked real_clock read the real clock (directly, or through a server or CLI they
# start), so what they see depends on the day. `make test-dates` runs them under libfaketime
# (Debian: apt-get install faketime) at a Saturday, an XNYS holiday (Christmas), a month-end
# trading day and an ordinary Tuesday, at 15:00 UTC: 10:00 in New York, the same date in both.
# `faketime DATE` hands every process the same offset from the real clock, so servers and CLIs
# the tests start agree with them (FAKETIME="@DATE" would restart each new process at DATE),
# and the clock runs on. Only the wall clock is faked (--exclude-monotonic): Python's timed lock
# waits hang on a faked monotonic clock; tests/libfaketime/sitecustomize.py works around what
# that costs time.sleep in libfaketime 0.9.10. libfaketime 0.9.10 also shifts the (real)
# monotonic deadline of pthread_cond_timedwait by the faked offset, so every such wait times out
# at once; CPython's GIL waits in one, and two busy threads then hand the GIL back and forth in a
# storm of futex calls (measured: a test 5x slower, most of it system time, whenever the CPUs
# were busy). FAKETIME_WAIT_MS=5 makes that wait 5 ms from the real now instead: the GIL's own
# switch interval, and a condition wait may always end early. FAKETIME_FORCE_MONOTONIC_FIX=1 is
# what libfaketime picks for this glibc anyway, said here so the wait is taken from the real
# monotonic clock whatever glibc it finds. The offset is fixed, so libfaketime's cache of it
# (FAKETIME_NO_CACHE) is harmless. PostgreSQL stays on the real clock (tests/pg.py), and
# tests/e2e/test_today.py fails the run unless the tests and their servers are on the faked date
# (AUTOPILOT_FAKED_DATE).
TEST_DATES ?= 2026-12-05 2026-12-25 2026-12-31 2026-12-08

test-dates: $(STAMP)
	@command -v faketime >/dev/null || { echo "need faketime on PATH (Debian: apt-get install faketime)"; exit 1; }
	@failed=""; \
	for day in $(TEST_DATES); do \
		echo "==> pytest -m real_clock at $$day 15:00:00 UTC"; \
		AUTOPILOT_FAKED_DATE=$$day PYTHONPATH=$(CURDIR)/tests/libfaketime \
			FAKETIME_WAIT_MS=5 FAKETIME_FORCE_MONOTONIC_FIX=1 \
			faketime --exclude-monotonic "$$day 15:00:00 UTC" $(PYTEST) -m real_clock; \
		rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; rc=0; fi; \
		if [ $$rc -ne 0 ]; then failed="$$failed $$day"; fi; \
	done; \
	if [ -n "$$failed" ]; then echo "real-clock tests failed at:$$failed"; exit 1; fi

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src

format: $(STAMP)
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

bench: $(STAMP)
	$(BIN)/python bench/auto_invest.py
	$(BIN)/python bench/auto_invest_ceiling.py
	$(BIN)/python bench/rebalancing.py
	$(BIN)/python bench/triggers.py
	$(BIN)/python bench/rate_limits.py
	$(BIN)/python bench/chaos.py --scaling

migrate: $(STAMP)
	$(BIN)/autopilot db upgrade

demo: $(STAMP)
	$(BIN)/autopilot demo

clean:
	rm -rf $(VENV) autopilot.db autopilot.db-wal autopilot.db-shm
