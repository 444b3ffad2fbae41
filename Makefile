# Twinning initiatives — the two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PORT ?= 8000

.PHONY: run test soak lint typecheck bench clean install translations screenshots mutate

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	PORT=$(PORT) $(BIN)/twinning serve --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

# The long variants of the reliability suites (a few minutes each): fuzzing with many more
# examples, torture and crash tests for minutes instead of seconds.
soak: $(STAMP)
	$(BIN)/python -m pytest -m soak $(PYTEST_ARGS)

# Mutation testing of the domain and the read-side rules (about 30 minutes; not part of
# `make test`): writes docs/MUTATION.md. MUTANTS='domain.initiative.*' reruns only those.
mutate: $(STAMP)
	$(BIN)/python tools/mutate.py $(MUTANTS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

typecheck: $(STAMP)
	$(BIN)/mypy

# The read benchmarks load the service with wrk (Debian's package; installed when missing and
# allowed, else they fall back to Python threads, a much weaker load generator).
bench: $(STAMP)
	@command -v wrk >/dev/null 2>&1 || apt-get install -y wrk >/dev/null 2>&1 \
		|| (apt-get update >/dev/null 2>&1 && apt-get install -y wrk >/dev/null 2>&1) \
		|| echo "wrk is not installed: the read benchmarks use Python threads" >&2
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis mutants

# The console's interface text: extract it, update the catalogues, compile them (the compiled
# .mo files are committed, so `make run` needs no build step).
translations: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k gettext --no-location \
		--sort-output --project twinning -o service/console/translations/messages.pot service
	$(BIN)/pybabel update -i service/console/translations/messages.pot \
		-d service/console/translations --no-fuzzy-matching --ignore-obsolete
	$(BIN)/pybabel compile -d service/console/translations --statistics

# Screenshots of the console's main pages over the demo network (docs/screenshots, shown in
# the README); headless Chromium from Debian's package.
screenshots: $(STAMP)
	$(BIN)/python tools/screenshots.py
