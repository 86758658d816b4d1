# regtune: `make help` lists the targets. Variables: STUDY, TRIALS, STORAGE, WORKERS (see `make help`).
SHELL := /bin/bash
.DEFAULT_GOAL := help

#: STUDY     study file(s) to run or report (default: the LSTM study on JapaneseVowels)
STUDY ?= studies/lstm.yaml
#: TRIALS    the study's total number of trials (default: the total it was last given, else its budget); a rerun only runs what is missing
TRIALS ?=
#: STORAGE   where the study lives (default: runs/<name>/journal.log); postgresql://user@host/db or grpc://host:port
STORAGE ?=
#: WORKERS   local worker processes (default 1; with GPUs: one per GPU x WORKERS_PER_GPU)
WORKERS ?=
#: WORKERS_PER_GPU  workers sharing one GPU (small RNNs leave a big GPU idle)
WORKERS_PER_GPU ?= 1
#: ALLOW_CHANGE  set to 1 to continue a study whose study file only widened its search (ranges, starting points)
ALLOW_CHANGE ?=
#: ARTIFACTS shared directory for per-trial checkpoints (lets a re-run trial resume a dead worker's epochs)
ARTIFACTS ?=
#: TRIAL     trial number(s) `make retry` re-queues (default: every trial given up after repeated crashes)
TRIAL ?=
#: HOST PORT where `make dashboard` listens (HOST also for `make proxy`)
HOST ?= 127.0.0.1
PORT ?= 8080
#: PROXY_PORT where `make proxy` listens (workers then use STORAGE=grpc://host:PROXY_PORT)
PROXY_PORT ?= 13000
#: PROXY_PROCESSES proxy processes sharing PROXY_PORT (one Python process serves on one core; default: this host's cores)
PROXY_PROCESSES ?= $(shell nproc 2>/dev/null || echo 1)
#: TORCH_VERSION  the PyTorch the environment installs (a CPU build where no GPU is found)
TORCH_VERSION ?= 2.13.0
#: TEST_JOBS pytest-xdist processes `make test` and `make test-fast` run the tests in (1: no xdist; default 2)
TEST_JOBS ?= 2

# q: one shell word for a value, whatever it holds ('...', a ' inside written '\''): a ' in a path or password
# ended the quoting ("unexpected EOF while looking for matching"); values are taken with $(value ...), so a $ in a
# password stays a $. validate and report take several files: their STUDY is split by the shell (quote inside it)
q = '$(subst ','\'',$(1))'
# switch: 1 when the variable named $(1) says yes, nothing when it says no (or is empty), else one error line
# (ALLOW_CHANGE=no used to turn it on: only 0 or nothing meant off)
switch = $(if $(word 2,$($(1))),$(error $(1)=$($(1)): one word allowed: 1, yes, true, on (continue) or 0, no, false, off))$(if $(filter 1 yes Yes YES true True TRUE on On ON,$($(1))),1,$(if $(filter-out 0 no No NO false False FALSE off Off OFF,$($(1))),$(error $(1)=$($(1)): allowed: 1, yes, true, on (continue) or 0, no, false, off)))

# xdist: the tests spread over TEST_JOBS processes; TEST_JOBS=1 runs them in-process. worksteal: the long
# end-to-end tests (up to 80 s, mostly waiting on heartbeats) do not queue behind one process while the other idles.
# The postgres tests run among the others (each has its own database or its own study names); the one that restarts
# the server (marked pg_restart) runs alone, after them (xdist's groups, --dist loadgroup, do not group under
# pytest 9: it reads a node id xdist 3.8 no longer sets)
XDIST = $(if $(filter-out 0 1,$(TEST_JOBS)),-n $(call q,$(TEST_JOBS)) --dist worksteal)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SEARCH := $(PY) -m search
COMMON = $(if $(STORAGE),--storage $(call q,$(value STORAGE))) $(if $(TRIALS),--trials $(call q,$(TRIALS))) $(if $(ARTIFACTS),--artifacts $(call q,$(value ARTIFACTS))) \
          $(if $(WORKERS),--workers $(call q,$(WORKERS))) --workers-per-gpu $(call q,$(WORKERS_PER_GPU)) $(if $(call switch,ALLOW_CHANGE),--allow-change)
# every target whose command line may hold STORAGE (and its password) runs without make echoing that line;
# add a new such target here (tests/test_operations.py checks it)
.SILENT: study worker dashboard proxy report figures repair retry

help: ## show this help
	@echo "regtune: which regularizers should my RNN use?"
	@echo
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'
	@echo
	@echo "variables (make study STUDY=studies/gru.yaml TRIALS=20 ...):"
	@grep -hE '^#: ' $(MAKEFILE_LIST) | sed -E 's/^#: /  /'

$(STAMP): pyproject.toml constraints.txt tools/install_torch.sh tools/install_env.sh
	tools/install_env.sh $(VENV) $(TORCH_VERSION) $^

venv: $(STAMP) ## create the environment in .venv/ (done on first use by every target)

study: $(STAMP) ## run (or resume) STUDY to TRIALS trials with WORKERS local workers; print the result
	$(SEARCH) study $(call q,$(value STUDY)) $(COMMON)

worker: $(STAMP) ## join STUDY in a shared STORAGE and work until its TRIALS are done
	$(SEARCH) worker $(call q,$(value STUDY)) $(COMMON)

dashboard: $(STAMP) ## serve optuna-dashboard for STORAGE (or STUDY's local store) on HOST:PORT
	$(SEARCH) dashboard $(call q,$(value STUDY)) $(if $(STORAGE),--storage $(call q,$(value STORAGE))) $(if $(ARTIFACTS),--artifacts $(call q,$(value ARTIFACTS))) --host $(call q,$(HOST)) --port $(call q,$(PORT))

proxy: $(STAMP) ## serve Optuna's gRPC storage proxy for STORAGE on HOST:PROXY_PORT (workers use grpc://host:PROXY_PORT)
	$(SEARCH) proxy --storage $(call q,$(value STORAGE)) --host $(call q,$(HOST)) --port $(call q,$(PROXY_PORT)) --processes $(call q,$(PROXY_PROCESSES))

validate: $(STAMP) ## check STUDY (study file, dataset, defaults) and exit; touches no store
	$(SEARCH) validate $(if $(strip $(STUDY)),$(STUDY),'')

figures: $(STAMP) ## draw STUDY's trial figures now (make dashboard draws them in the background as trials finish)
	@$(SEARCH) figures $(call q,$(value STUDY)) $(if $(STORAGE),--storage $(call q,$(value STORAGE))) $(if $(ARTIFACTS),--artifacts $(call q,$(value ARTIFACTS)))

report: $(STAMP) ## write the HTML report of STUDY (several: STUDY="a.yaml b.yaml") under runs/<study>/report*/ (several: also runs/comparison/)
	$(SEARCH) report $(if $(strip $(STUDY)),$(STUDY),'') $(if $(STORAGE),--storage $(call q,$(value STORAGE)))

repair: $(STAMP) ## repair a damaged journal or SQLite file of STUDY (a backup is kept)
	@$(SEARCH) repair $(call q,$(value STUDY)) $(if $(STORAGE),--storage $(call q,$(value STORAGE)))

retry: $(STAMP) ## re-queue STUDY's trials given up after repeated crashes (TRIAL=3 or TRIAL="3 7"); then make study
	@$(SEARCH) retry $(call q,$(value STUDY)) $(if $(STORAGE),--storage $(call q,$(value STORAGE))) $(if $(TRIAL),--trial $(foreach t,$(TRIAL),$(call q,$(t))))

test: $(STAMP) ## run the whole test suite, as CI does, in TEST_JOBS processes (starts nothing itself: see .ci/run for the services)
	$(PY) -m pytest -q $(XDIST) -m "not pg_restart" tests; rest=$$?; \
	$(PY) -m pytest -q -m pg_restart tests; restart=$$?; \
	exit $$(( rest || restart ))

test-fast: $(STAMP) ## the fast layer (about 2 minutes on 2 cores): no slow end-to-end runs, no PostgreSQL, no browser
	$(PY) -m pytest -q $(XDIST) -m "not slow and not postgres and not browser" tests

lint: $(STAMP) ## ruff + mypy
	$(VENV)/bin/ruff check models search tests bench
	$(VENV)/bin/ruff format --check models search tests bench
	$(VENV)/bin/mypy models search bench

bench: $(STAMP) ## benchmarks: whole-study speed, quality on UEA/UCR sets, model speed, introspection, search efficiency, storage, long sequences, trial arrays, decay response
	$(PY) -m bench

gpu-check: $(STAMP) ## on a GPU machine: cuDNN on the fused path, fused == loop there, model-speed ratios, trial arrays vs workers
	$(PY) -m bench.gpu_check

clean: ## remove runs/ (studies, reports); keeps .venv/
	rm -rf runs/

.PHONY: help venv study worker dashboard validate figures proxy report repair retry test test-fast lint bench gpu-check clean
