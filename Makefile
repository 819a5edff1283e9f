# privgan_runner — `make help` lists the targets.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
ARGS   ?=
# paper reproductions: make table1 DATASET=fashion_mnist SEEDS=0,1,2 QUICK=1 [TAG=name ARGS="overrides"]
DATASET ?= lfw
SEEDS   ?= 0,1,2
QUICK   ?=
TAG     ?=
SWEEPS  := outputs/sweeps
# a sweep's folder: outputs/sweeps/<name>[_quick][_<TAG>]; give runs with other ARGS their own TAG (a folder
# that holds another job's work is refused, never reused)
sweep_dir = $(SWEEPS)/$(1)$(if $(QUICK),_quick)$(if $(TAG),_$(TAG))
# a sweep folder keeps the SEEDS and ARGS it was made with: others would pair Hydra's job numbers with
# other jobs' results (each job refuses such a folder; this says so once, before the sweep starts)
define sweep_guard
@d='$(1)'; now="SEEDS=$(SEEDS) ARGS=$$ARGS"; mkdir -p "$$d"; \
if [ -f "$$d/make_args" ] && [ "$$(cat "$$d/make_args")" != "$$now" ]; then \
  printf '%s was made with\n  %s\nnot\n  %s\nUse TAG=<name> for a new sweep folder, or remove that one.\n' \
    "$$d" "$$(cat "$$d/make_args")" "$$now" >&2; exit 2; fi; \
printf '%s' "$$now" > "$$d/make_args"
endef
# QUICK=1: the CPU-sized profiles in conf/profile/ (given last, so they apply after the experiment)
QUICK_TABLE1 := +profile=quick_table1
QUICK_TABLE2 := +profile=quick_table2
QUICK_MODEL  := +profile=quick_model
QUICK_PIGAN  := +profile=quick_pigan
QUICK_AUDIT  := +profile=quick_audit
QUICK_DP     := +profile=quick_dp_compare
# GS-WGAN / DPAC on a CPU: 10 discriminators instead of 1,000, warm starts of 20 steps
QUICK_GS     := privacy.n_discriminators=10 privacy.warm_start_steps=20
# the DPAC poster's ablation rows (Table 4): w/o g2r, w/o r2g, w/o seq, w/o init
DPAC_ABLATIONS := privacy.gen2real=false privacy.real2gen=false privacy.sequential=false privacy.warm_start_steps=0
# the frontier's grid: one option of conf/frontier/ a cell (tests/test_frontier.py checks this list is that folder)
FRONTIER_CELLS := none,weight_clip,spectral_norm,gradient_penalty,pigan_lam1,pigan_lam10,privgan_lam1,privgan_lam10,$\
  dpsgd_eps1,dpsgd_eps4,dpsgd_eps10,dpgan_eps1,dpgan_eps4,dpgan_eps10,gswgan_eps1,gswgan_eps4,gswgan_eps10,$\
  dpac_eps1,dpac_eps4,dpac_eps10
QUICK_FRONTIER := +profile=quick_frontier

.DEFAULT_GOAL := help
.PHONY: help run lint test test-all test-slow bench gpu-check docs data clean table1 table2 pigan-lambda pigan-n dp-epsilon audit audit-multi lira dp-compare frontier

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# constraints.txt pins every package (the reproducible install); pyproject.toml states the ranges
$(VENV)/.installed: pyproject.toml setup.py constraints.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -c constraints.txt -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

run: $(VENV)/.installed ## set up .venv if needed and run the default experiment (extra overrides: ARGS="...")
	$(PY) -m privgan_runner $(ARGS)

LINTED := privgan_runner tests scripts conf

lint: $(VENV)/.installed-dev ## ruff: lint and format check
	$(PY) -m ruff check $(LINTED)
	$(PY) -m ruff format --check $(LINTED)

test: lint ## set up .venv with dev extras, lint, and run the test suite (no slow tests)
	$(PY) -m pytest -q $(ARGS)

test-all: lint ## the test suite including slow tests
	$(PY) -m pytest -q -m "slow or not slow" $(ARGS)

test-slow: lint ## only the slow tests (CI runs them after `make test`)
	$(PY) -m pytest -q -m slow $(ARGS)

bench: $(VENV)/.installed ## training steps/s against a naive DataLoader + eager baseline (ARGS="--device cuda")
	$(PY) scripts/bench.py $(ARGS)

docs: $(VENV)/.installed-dev ## the docs site from docs/ (MkDocs + Material, API pages from the docstrings) into site/, --strict
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

gpu-check: $(VENV)/.installed ## every GPU figure of the README in one run (<= 8 min): gpu_check/gpu_check.{json,md}
	$(PY) scripts/gpu_check.py --out gpu_check $(ARGS)

data: ## install the datasets that can be installed here (Fashion-MNIST from Debian's package)
	@if [ -d /usr/share/datasets/fashion-mnist ]; then echo "Fashion-MNIST: present in /usr/share/datasets/fashion-mnist"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; \
	else echo "Fashion-MNIST: run as root: apt-get install dataset-fashion-mnist"; exit 1; fi

table1: SWEEP = $(call sweep_dir,table1_$(DATASET))
table1: $(VENV)/.installed ## Wu et al. Table 1: 2 objectives x 4 regularizers on DATASET (lfw), SEEDS, then the report (QUICK=1: minutes on a CPU)
	$(call sweep_guard,$(SWEEP))
	-$(PY) -m privgan_runner -m +experiment=wu_table1 dataset=$(DATASET) objective=js,wasserstein \
	    regularizer=none,weight_clip,spectral_norm,gradient_penalty seed=$(SEEDS) trainer.progress=false \
	    $(if $(QUICK),$(QUICK_TABLE1)) hydra.sweep.dir=$(SWEEP) $(ARGS)
	$(PY) -m privgan_runner.report $(SWEEP)

table2: SWEEP = $(call sweep_dir,table2_$(DATASET))
table2: $(VENV)/.installed ## Wu et al. Table 2: the black-box LOGAN attack, JS x none / weight_clip / spectral_norm on DATASET, SEEDS
	$(call sweep_guard,$(SWEEP))
	-$(PY) -m privgan_runner -m +experiment=wu_table2 dataset=$(DATASET) regularizer=none,weight_clip,spectral_norm \
	    seed=$(SEEDS) trainer.progress=false $(if $(QUICK),$(QUICK_TABLE2)) \
	    hydra.sweep.dir=$(SWEEP) $(ARGS)
	$(PY) -m privgan_runner.report $(SWEEP)

pigan-lambda: SWEEP = $(call sweep_dir,pigan_lambda)
pigan-lambda: $(VENV)/.installed ## PIGAN Fig. 1: lambda = 0,1,5,10,20,30 on Fashion-MNIST (N = 2), SEEDS, then the report
	$(call sweep_guard,$(SWEEP))
	-$(PY) -m privgan_runner -m +experiment=fmnist_pigan privacy.lam=0,1,5,10,20,30 seed=$(SEEDS) \
	    trainer.progress=false $(if $(QUICK),$(QUICK_PIGAN)) \
	    hydra.sweep.dir=$(SWEEP) $(ARGS)
	$(PY) -m privgan_runner.report $(SWEEP)

pigan-n: SWEEP = $(call sweep_dir,pigan_n)
pigan-n: $(VENV)/.installed ## PIGAN Table 2: N = 2..6 at lambda = 1 on Fashion-MNIST, SEEDS, then the report
	$(call sweep_guard,$(SWEEP))
	-$(PY) -m privgan_runner -m +experiment=fmnist_pigan privacy.lam=1 privacy.n_groups=2,3,4,5,6 seed=$(SEEDS) \
	    trainer.progress=false $(if $(QUICK),$(QUICK_PIGAN)) hydra.sweep.dir=$(SWEEP) $(ARGS)
	$(PY) -m privgan_runner.report $(SWEEP)

dp-epsilon: SWEEP = $(call sweep_dir,dp_epsilon)
dp-epsilon: $(VENV)/.installed ## DP-GAN: epsilon = 1,2,5,10,20 on Fashion-MNIST with the white-box and final-G audits, SEEDS, then the report
	$(call sweep_guard,$(SWEEP))
	-$(PY) -m privgan_runner -m +experiment=fmnist_dpgan privacy.epsilon=1,2,5,10,20 audit=gradient seed=$(SEEDS) \
	    trainer.progress=false $(if $(QUICK),$(QUICK_MODEL)) hydra.sweep.dir=$(SWEEP) $(ARGS)
	$(PY) -m privgan_runner.report $(SWEEP)

dp-compare: SWEEP = $(call sweep_dir,dp_compare)
dp-compare: $(VENV)/.installed ## dp-GAN, GS-WGAN, DPAC and DPAC's ablations on Fashion-MNIST at epsilon 10, SEEDS, then the report
	$(call sweep_guard,$(SWEEP))
	-$(PY) -m privgan_runner -m +experiment=fmnist_dpgan_zhang seed=$(SEEDS) trainer.progress=false \
	    $(if $(QUICK),$(QUICK_DP) privacy.warm_start_steps=20) hydra.sweep.dir=$(SWEEP)/dpgan_zhang $(ARGS)
	-$(PY) -m privgan_runner -m +experiment=fmnist_gswgan seed=$(SEEDS) trainer.progress=false \
	    $(if $(QUICK),$(QUICK_DP) $(QUICK_GS)) hydra.sweep.dir=$(SWEEP)/gswgan $(ARGS)
	-$(PY) -m privgan_runner -m +experiment=fmnist_dpac seed=$(SEEDS) trainer.progress=false \
	    $(if $(QUICK),$(QUICK_DP) $(QUICK_GS)) hydra.sweep.dir=$(SWEEP)/dpac $(ARGS)
	-for ablation in $(DPAC_ABLATIONS); do switch=$${ablation#privacy.}; \
	  $(PY) -m privgan_runner -m +experiment=fmnist_dpac seed=$(SEEDS) trainer.progress=false \
	    $(if $(QUICK),$(QUICK_DP) $(QUICK_GS)) $$ablation hydra.sweep.dir=$(SWEEP)/dpac_without_$${switch%%=*} $(ARGS); done
	$(PY) -m privgan_runner.report $(SWEEP)

audit: SWEEP = $(call sweep_dir,audit)
audit: $(VENV)/.installed ## the one-run audit on digits: no privacy and DP-SGD at epsilon 1, accountant epsilon beside epsilon_lb
	$(call sweep_guard,$(SWEEP))
	-$(PY) -m privgan_runner -m +experiment=audit_digits privacy=none seed=$(SEEDS) trainer.progress=false \
	    $(if $(QUICK),$(QUICK_AUDIT)) hydra.sweep.dir=$(SWEEP)/no_privacy $(ARGS)
	-$(PY) -m privgan_runner -m +experiment=audit_digits privacy=dpsgd privacy.epsilon=1 seed=$(SEEDS) \
	    trainer.progress=false $(if $(QUICK),$(QUICK_AUDIT)) hydra.sweep.dir=$(SWEEP)/dpsgd_epsilon1 $(ARGS)
	$(PY) -m privgan_runner.report $(SWEEP)

audit-multi: SWEEP = $(call sweep_dir,audit_multi)
audit-multi: RUNS ?= 64
audit-multi: $(VENV)/.installed ## the multi-run audit: DP-SGD at epsilon 2 on digits, one target canary per run, RUNS runs (64), then the bound
	$(call sweep_guard,$(SWEEP))
	-$(PY) -m privgan_runner -m +experiment=audit_multi "seed=range(0,$(RUNS))" \
	    trainer.progress=false $(if $(QUICK),trainer.epochs=100) hydra.sweep.dir=$(SWEEP) $(ARGS)
	$(PY) -m privgan_runner.audit $(SWEEP)

lira: SWEEP = $(call sweep_dir,lira)
lira: SHADOWS ?= 100,101,102,103,104,105,106,107,108,109,110,111,112,113,114,115
lira: $(VENV)/.installed ## LiRA on digits: 16 shadow runs (SHADOWS), then targets SEEDS with white-box and LiRA, then the report
	$(call sweep_guard,$(SWEEP))
	-$(PY) -m privgan_runner -m +experiment=lira_digits seed=$(SHADOWS) stages=[train] trainer.progress=false \
	    hydra.sweep.dir=$(SWEEP)/shadows $(ARGS)
	-$(PY) -m privgan_runner -m +experiment=lira_digits seed=$(SEEDS) attack.lira.shadow_dir=$(SWEEP)/shadows \
	    trainer.progress=false hydra.sweep.dir=$(SWEEP)/targets $(ARGS)
	$(PY) -m privgan_runner.report $(SWEEP)/targets

frontier: SWEEP = $(call sweep_dir,frontier$(if $(filter command line,$(origin DATASET)),_$(DATASET)))
frontier: LAUNCHER ?= local
frontier: $(VENV)/.installed ## the privacy-utility frontier: every mechanism on one protocol (QUICK=1: digits on a CPU), SEEDS, then the report
	$(call sweep_guard,$(SWEEP))
	-$(PY) -m privgan_runner -m +experiment=frontier +frontier=$(FRONTIER_CELLS) seed=$(SEEDS) \
	    $(if $(filter command line,$(origin DATASET)),dataset=$(DATASET)) hydra/launcher=$(LAUNCHER) \
	    trainer.progress=false $(if $(QUICK),$(QUICK_FRONTIER)) hydra.sweep.dir=$(SWEEP) $(ARGS)
	$(PY) -m privgan_runner.report $(SWEEP) --frontier

clean: ## remove the virtual environment and build leftovers (outputs/ is kept)
	rm -rf $(VENV) build *.egg-info .pytest_cache
