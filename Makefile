# HeyGem: `make run` starts everything on embedded services; `make test` runs the suite
# against real PostgreSQL and Redis (installed and started here when missing).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
# Set to https://download.pytorch.org/whl/cpu on a CPU-only host to get the small CPU build of torch.
TORCH_INDEX ?=

REQ_HASH := $(shell cat requirements.txt requirements-nodeps.txt 2>/dev/null | sha1sum | cut -c1-12)
DEV_HASH := $(shell cat requirements-dev.txt 2>/dev/null | sha1sum | cut -c1-12)
STAMP := $(VENV)/.installed-$(REQ_HASH)
DEV_STAMP := $(VENV)/.installed-dev-$(DEV_HASH)

# The services `make test` uses: set them to use those (nothing is installed then); otherwise
# tests/services.sh finds or starts local ones and writes where they are to $(SERVICES_ENV).
TEST_DATABASE_URL ?=
TEST_REDIS_URL ?=
SERVICES_ENV := var/test/services.env
PYTEST_ARGS ?=

.PHONY: help run https test install install-dev services clean screenshots

help:
	@echo "make run    start HeyGem on http://127.0.0.1:7860/ (embedded SQLite, Redis, local files)"
	@echo "make https  the same behind nginx on https://localhost:8443/ (self-signed certificate unless set)"
	@echo "make test   run the test suite against real PostgreSQL and Redis"

# A virtualenv without pip (python3.11-venv missing when it was made) is made again, not used half-made.
$(VENV)/bin/pip:
	@command -v $(PYTHON) >/dev/null || { echo "HeyGem needs Python 3.11 ($(PYTHON) not found). Install it (README, \"Python 3.11\"), or run make PYTHON=/path/to/python3.11 ..."; exit 1; }
	@if ! $(PY) -m pip --version >/dev/null 2>&1; then \
	  rm -rf $(VENV); \
	  $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); echo "Could not make $(VENV). On Debian or Ubuntu: apt-get install python3.11-venv, then run make again."; exit 1; }; \
	fi

# Installs only when the requirement files changed since the last install, so a second start is quick.
$(STAMP): | $(VENV)/bin/pip
	$(if $(TORCH_INDEX),$(PY) -m pip install --quiet --index-url $(TORCH_INDEX) "$$(grep '^torch==' requirements.txt)")
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	rm -f $(VENV)/.installed-[0-9a-f]*
	touch $@

$(DEV_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-dev-*
	touch $@

install: $(STAMP)
install-dev: $(DEV_STAMP)

var/secret_key:
	mkdir -p var
	umask 077 && $(PY) -c "import secrets; print(secrets.token_urlsafe(50))" > $@

run: $(STAMP) var/secret_key
	HEYGEM_SECRET_KEY_FILE=$${HEYGEM_SECRET_KEY_FILE:-$(CURDIR)/var/secret_key} exec $(PY) manage.py serve

# --- HTTPS: nginx in front (nginx/, docs/deploy.md) ---
# A self-signed certificate is made on first use unless HEYGEM_TLS_CERT_PATH/HEYGEM_TLS_KEY_PATH name
# real ones. Ctrl-C stops nginx with everything else.
TLS_DIR := $(or $(HEYGEM_VAR_DIR),var)/tls
https: $(STAMP) var/secret_key
	bash nginx/install.sh
	$(if $(HEYGEM_TLS_CERT_PATH),,$(MAKE) --no-print-directory $(TLS_DIR)/localhost.crt)
	HEYGEM_SECRET_KEY_FILE=$${HEYGEM_SECRET_KEY_FILE:-$(CURDIR)/var/secret_key} \
	HEYGEM_BEHIND_HTTPS_PROXY=$${HEYGEM_BEHIND_HTTPS_PROXY:-true} HEYGEM_X_ACCEL_REDIRECT=$${HEYGEM_X_ACCEL_REDIRECT:-true} \
	exec $(PY) manage.py serve --https

$(TLS_DIR)/localhost.crt: | $(STAMP)
	$(PY) -m nginx.render self-signed $@ $(TLS_DIR)/localhost.key

services:
	TEST_DATABASE_URL='$(TEST_DATABASE_URL)' TEST_REDIS_URL='$(TEST_REDIS_URL)' bash tests/services.sh $(SERVICES_ENV)

test: $(DEV_STAMP)
	TEST_DATABASE_URL='$(TEST_DATABASE_URL)' TEST_REDIS_URL='$(TEST_REDIS_URL)' bash tests/services.sh $(SERVICES_ENV)
	set -a && . ./$(SERVICES_ENV) && set +a && \
	DATABASE_URL=$$TEST_DATABASE_URL REDIS_URL=$$TEST_REDIS_URL HEYGEM_SECRET_KEY=test-only-secret \
	HEYGEM_VAR_DIR=$(CURDIR)/var/test HEYGEM_QUEUE_NAMESPACE=heygem-test HEYGEM_CHANNELS_PREFIX=heygem-test \
	PYTHONUNBUFFERED=1 \
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	@# A private Redis that tests/services.sh started (only when 6379 was not usable) stops first.
	-@test -f var/test/services/redis.pid && kill $$(cat var/test/services/redis.pid) 2>/dev/null || true
	rm -rf var/test .pytest_cache

# Refreshes docs/screenshots/ from the browser tests (English and Chinese pages).
screenshots: $(DEV_STAMP)
	$(MAKE) test HEYGEM_SCREENSHOTS=1 PYTEST_ARGS="tests/test_browser.py tests/test_page_layout.py"
