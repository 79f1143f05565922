# The two commands a newcomer needs: `make run` and `make test` (see README).
# Both create .venv with Python 3.11 and install the hash-pinned locks on first use, with pip --require-hashes
# (requirements-dev.lock: runtime + development and test tools; requirements-nodeps.lock: --no-deps).
# The locks are generated: edit requirements*.in, then `make lock`.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-requirements

.PHONY: run test lint lock worker ping clean i18n i18n-compile

$(STAMP): requirements-dev.lock requirements-nodeps.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required (set PYTHON=/path/to/python3.11)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r requirements-nodeps.lock
	touch $(STAMP)

## lock: regenerate the hash-pinned locks from requirements*.in (after adding or changing a pin there).
## Kept pins stay unless LOCK_ARGS=--upgrade; then `make` reinstalls. Resolves against PyPI (or UV_DEFAULT_INDEX).
UV_COMPILE = $(BIN)/uv pip compile --quiet --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
	--custom-compile-command 'make lock' $(LOCK_ARGS)
lock: $(BIN)/uv
	$(UV_COMPILE) requirements.in -o requirements.txt
	$(UV_COMPILE) requirements-dev.in --constraints requirements.txt -o requirements-dev.lock
	$(UV_COMPILE) --no-deps requirements-nodeps.in -o requirements-nodeps.lock

$(BIN)/uv:  # the version requirements-dev.in pins (normally already installed from requirements-dev.lock)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$$(grep -E '^uv==' requirements-dev.in)"

## run: the whole product locally (SQLite, embedded queue, workers, web on :5000)
run: $(STAMP)
	$(BIN)/python -m devkit.devstack

## test: the whole test suite (PostgreSQL/Redis when TEST_DATABASE_URL/TEST_REDIS_URL are set)
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## i18n: extract new user-facing strings into the catalogs; then translate the empty msgstr entries of
## app/translations/zh_CN/LC_MESSAGES/messages.po (tests/i18n lists what is missing). See docs/i18n.md.
I18N_POT := app/translations/messages.pot
i18n: $(STAMP)
	PYTHONPATH=. $(BIN)/pybabel extract -F babel.cfg -k _l -k N_ -k _invalid:2 --add-location=file --sort-output --no-wrap \
	  --omit-header -o $(I18N_POT) .
	$(BIN)/pybabel update -i $(I18N_POT) -d app/translations --no-wrap --ignore-obsolete --no-fuzzy-matching
	sed -i '/^"POT-Creation-Date:/d' app/translations/*/LC_MESSAGES/messages.po  # no churn between runs
	$(MAKE) i18n-compile

## i18n-compile: build the .mo files (also done at start-up when a .po is newer)
i18n-compile: $(STAMP)
	$(BIN)/pybabel compile -d app/translations --statistics

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

## worker: one worker process against REDIS_URL, e.g. `make worker QUEUES=generation`
QUEUES ?= generation default maintenance
worker: $(STAMP)
	$(BIN)/python -m workers --queues $(QUEUES)

## ping: send a probe through a queue of the running stack
ping: $(STAMP)
	$(BIN)/flask --app wsgi:app jobs ping

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
