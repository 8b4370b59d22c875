# The two commands: `make run` (the whole system on the local stack) and `make test`.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
# uv may land in the user scripts folder or beside the interpreter (see deploy/local/bootstrap.sh).
PY_SCRIPTS := $(shell python3 -c "import sysconfig; print(sysconfig.get_path('scripts'))" 2>/dev/null)
export PATH := $(HOME)/.local/bin:$(PY_SCRIPTS):$(PATH)
# The interpreter the environment is made with (deploy/local/python.sh, decision 0082).
UV_PYTHON ?= $(shell bash deploy/local/python.sh)
ifneq ($(strip $(UV_PYTHON)),)
export UV_PYTHON
endif
UV ?= uv
RUN := $(UV) run --frozen

.PHONY: help install run up down status test lint format token demo crm

help:
	@echo "make run     install, start Kafka, MongoDB, Keycloak, the four services and the console; Ctrl-C stops all"
	@echo "make test    install, start the stack if needed, lint, run every test, stop what it started"
	@echo "make up      the same as run, in the background;  make down  stops it"
	@echo "make status  what runs;  make token SCOPES='contacts:read'  mints a development token"
	@echo "make demo    loads the demo data into the running system (ARGS='--clients 1000')"
	@echo "make crm ARGS='lag'  the operator's command line (topics, lag, dlq, rebuild, ...)"

install:
	@bash deploy/local/bootstrap.sh

run: install
	@$(RUN) crm-stack run

up: install
	@$(RUN) crm-stack up --with-services

down:
	@$(RUN) crm-stack down --with-services

status:
	@$(RUN) crm-stack status --with-services

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

test: install
	@bash deploy/local/test.sh

format:
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

token:
	@eval "$$($(RUN) crm-stack env)" && $(RUN) crm-token mint --sub dev-cli $(foreach s,$(SCOPES),--scope $(s))

# uv lives in a folder a new terminal may not have on its PATH; these targets find it.
demo: install
	@eval "$$($(RUN) crm-stack env)" && $(RUN) crm demo load $(ARGS)

crm: install
	@eval "$$($(RUN) crm-stack env)" && $(RUN) crm $(ARGS)
