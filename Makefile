# The two commands a newcomer needs: `make run` and `make test` (see README).
# Both create .venv with Python 3.11 and install the pinned requirements on first use (runtime: requirements.txt,
# development and tests: requirements-dev.txt).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-requirements

.PHONY: run test lint worker ping clean

$(STAMP): requirements.txt requirements-dev.txt requirements-nodeps.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required (set PYTHON=/path/to/python3.11)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

## run: the whole product locally (SQLite, embedded queue, workers, web on :5000)
run: $(STAMP)
	$(BIN)/python -m app.devstack

## test: the whole test suite (PostgreSQL/Redis when TEST_DATABASE_URL/TEST_REDIS_URL are set)
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

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
