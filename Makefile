# The README's two commands: `make run` and `make test`.
.PHONY: run test test-sqlite test-postgres test-both lint bench requirements upgrade

run:
	bash scripts/setup.sh
	.venv/bin/python manage.py serve

# The README's test command, and what CI runs: the whole suite on SQLite and on PostgreSQL at
# once (scripts/test-both.sh prepares the engine, Caddy, chromium and a local PostgreSQL cluster).
test:
	bash scripts/test-both.sh

# The suite on SQLite only (quicker while working).
test-sqlite:
	bash scripts/setup.sh dev
	-bash scripts/engine.sh
	-bash scripts/browser.sh
	.venv/bin/lint-imports
	.venv/bin/python -m pytest

# The same suite on PostgreSQL: a local cluster (scripts/postgres.sh, as root) and DATABASE_URL.
# Any `DATABASE_URL=postgres://... make test` does the same against another server.
test-postgres:
	DATABASE_URL=$$(bash scripts/postgres.sh) TINYFORGE_TEST_POSTGRES_URL=$$(bash scripts/postgres.sh) $(MAKE) test-sqlite

test-both: test

lint:
	.venv/bin/ruff check .
	.venv/bin/lint-imports

bench:
	.venv/bin/python bench/run_sampling.py --sizes 100 300 --ticks 5
	.venv/bin/python bench/run_query.py
	.venv/bin/python bench/run_maintenance.py
	.venv/bin/python bench/run_capacity.py --rounds 3
	.venv/bin/python bench/run_swap.py

# Dependencies are declared in pyproject.toml; these pin them (and what they pull in) into
# requirements.txt and requirements-dev.txt. `make requirements` keeps existing pins where they
# still fit; `make upgrade` moves everything to the newest versions the bounds allow.
PIP_COMPILE = .venv/bin/pip-compile -q --strip-extras --no-emit-index-url --no-emit-find-links

requirements:
	$(PIP_COMPILE) $(PIP_COMPILE_ARGS) -o requirements.txt pyproject.toml
	$(PIP_COMPILE) $(PIP_COMPILE_ARGS) --extra dev -c requirements.txt -o requirements-dev.txt pyproject.toml

upgrade:
	$(MAKE) requirements PIP_COMPILE_ARGS=--upgrade
