# OneMap's daily verbs. `make demo` and `make test` each set everything up first (idempotent).
.PHONY: setup demo test stop lint format

setup:
	@bash scripts/setup.sh

demo: setup
	@bash scripts/demo.sh

test: setup
	@bash scripts/test.sh

stop:
	@bash scripts/stop.sh

lint:
	@.venv/bin/ruff check . && .venv/bin/ruff format --check .

format:
	@.venv/bin/ruff format . && .venv/bin/ruff check --fix .
