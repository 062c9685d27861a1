# Two commands: `make run` (the product, on this machine) and `make test` (everything).
# Both create .venv with python3 -m venv + pip. pip's own configuration supplies the CPU build of
# torch (find-links); set PIP_FLAGS to add your own (e.g. an --extra-index-url).

PYTHON3 ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
PIP     := $(PY) -m pip
PIP_FLAGS ?=

# A stamp per set of requirement files, named by their hash: editing one reinstalls, nothing
# else does.
hash = $(shell cat $(1) | sha256sum | cut -c1-12)
RUN_REQS := requirements.txt requirements-llm.txt
DEV_REQS := requirements.txt requirements-dev.txt requirements-llm.txt
RUN_STAMP := $(VENV)/.installed-run-$(call hash,$(RUN_REQS))
DEV_STAMP := $(VENV)/.installed-dev-$(call hash,$(DEV_REQS))

.DEFAULT_GOAL := help
.PHONY: help run test lint format bench model venv venv-dev clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON3) -m venv $(VENV)

# llama-cpp-python compiles llama.cpp from source unless pip has its wheel cached: build only the
# shared libraries the server loads (no common library: scripts/llama_cpp_build.cmake; no
# multimodal mtmd library, tests, examples, tools, curl, or llamafile's sgemm kernels, which
# speed up no matrix type of the Q4_1 model). 3 minutes on 2 cores instead of 8.
LLAMA_CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF \
	-DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF -DGGML_LLAMAFILE=OFF \
	-DCMAKE_PROJECT_llama.cpp_INCLUDE=$(CURDIR)/scripts/llama_cpp_build.cmake
# Say what the silent minutes are, then how long they took.
define pip_install
	@$(PY) -c "import llama_cpp" 2>/dev/null || echo "[make] Installing requirements. Building llama.cpp's server once: about 3 minutes on 2 cores, silent (pip caches the wheel: later installs take seconds)..."
	@start=$$(date +%s); CMAKE_ARGS="$(LLAMA_CMAKE_ARGS) $$CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(PIP) install --quiet --only-binary=torch $(PIP_FLAGS) $(1) && echo "[make] requirements installed in $$(( $$(date +%s) - start )) s"
endef

$(RUN_STAMP): $(RUN_REQS) | $(PY)
	$(call pip_install,-r requirements.txt -r requirements-llm.txt)
	rm -f $(VENV)/.installed-run-* && touch $@

$(DEV_STAMP): $(DEV_REQS) | $(PY)
	$(call pip_install,-r requirements-dev.txt -r requirements-llm.txt)
	rm -f $(VENV)/.installed-dev-* && touch $@

venv: $(RUN_STAMP)      ## create .venv with what `make run` needs
venv-dev: $(DEV_STAMP)  ## create .venv with what `make test` needs

run: $(RUN_STAMP)  ## migrate, create the demo user, start llama.cpp (unless LLM_BASE_URL) and serve on :8000
	$(PY) scripts/run.py

test: $(DEV_STAMP)  ## run the whole suite (PYTEST_ARGS="-k ..." to narrow it)
	node --test tests/js/
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(DEV_STAMP)  ## ruff format --check, ruff check, mypy --strict, import-linter (layers, no cycles)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: $(DEV_STAMP)  ## apply ruff format and ruff's safe fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(DEV_STAMP)  ## run the benchmarks (each prints its figures; several minutes)
	$(PY) -m bench.relay
	$(PY) -m bench.moderation

model: $(RUN_STAMP)  ## fetch the SmolLM2 GGUF file into var/models/ (make run does it when needed)
	$(PY) scripts/smollm2.py

clean:  ## remove .venv and var/ (the model file, logs, static files); keeps db.sqlite3
	rm -rf $(VENV) var
