# The README's two commands: `make run` and `make test`.
.PHONY: run test lint bench

run:
	bash scripts/setup.sh
	.venv/bin/python manage.py serve

test:
	bash scripts/setup.sh dev
	-bash scripts/engine.sh
	-bash scripts/browser.sh
	.venv/bin/python -m pytest

lint:
	.venv/bin/ruff check .
