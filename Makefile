# The README's two commands: `make run` and `make test`.
.PHONY: run test lint bench

run:
	bash scripts/setup.sh
	.venv/bin/python manage.py serve

test:
	bash scripts/setup.sh dev
	-bash scripts/engine.sh
	-bash scripts/browser.sh
	.venv/bin/lint-imports
	.venv/bin/python -m pytest

lint:
	.venv/bin/ruff check .
	.venv/bin/lint-imports

bench:
	.venv/bin/python bench/run_sampling.py --sizes 100 300 --ticks 5
	.venv/bin/python bench/run_query.py
	.venv/bin/python bench/run_maintenance.py
