# The two commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DOMAIN ?= lunar
PIP_FLAGS := --disable-pip-version-check --quiet

# Tests keep DDS on loopback and away from other runs on the same machine.
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST
export ROS_DOMAIN_ID ?= $(shell echo $$(( $$$$ % 100 + 100 )))
export PYTHONUNBUFFERED := 1

.PHONY: venv test test-unit test-ros test-stress test-gpu demo score-demo bench soak train examples calibrate-report robustness evaluate explain-eval clean-venv

MSGS_STAMP := $(VENV)/.msgs-built

venv: $(STAMP) $(MSGS_STAMP)

$(STAMP): requirements.txt constraints.txt setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_FLAGS) -c constraints.txt -r requirements.txt
	$(PY) -m pip install $(PIP_FLAGS) --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The interface package (competency_cf_msgs), built with plain cmake into the venv.
$(MSGS_STAMP): $(STAMP) scripts/build_msgs.sh competency_cf_msgs/CMakeLists.txt \
		competency_cf_msgs/package.xml $(wildcard competency_cf_msgs/msg/*.msg)
	scripts/build_msgs.sh $(VENV)
	touch $(MSGS_STAMP)

# Unit tests (no ROS node, no subprocess; seconds) and ROS tests (nodes, graphs, processes).
test: venv
	$(PY) -m pytest test/unit test/ros

test-unit: venv
	$(PY) -m pytest test/unit

test-ros: venv
	$(PY) -m pytest test/ros

# The whole suite five times in a row with both cores kept busy by two other processes.
test-stress: venv
	.ci/stress $(PY) 5

# The CUDA paths (scoring, counterfactual search, the 4-bit LLM explainer); needs a CUDA GPU.
test-gpu: venv
	$(PY) -m pytest test/gpu

# A live run of the whole graph on a scripted drive (make demo DOMAIN=speed for signs).
demo: venv
	$(PY) -m competency_cf demo --domain $(DOMAIN)

# Scores clean, degraded and anomalous images of both domains (no ROS graph).
score-demo: venv
	$(PY) -m competency_cf score-demo

# Figures, not pass/fail: counterfactual methods (batch 1 and batched, default vs reference side
# by side) and descriptor-explainer latency.
bench: venv
	$(PY) -m competency_cf bench $(if $(filter command line environment,$(origin DOMAIN)),--domain $(DOMAIN))

# Five minutes of a 60 Hz 1280x720 camera through the graph, camera on a thread of the graph's
# process and then in its own process; exits 1 when a check fails.
soak: venv
	$(PY) -m competency_cf soak --domain $(DOMAIN); one=$$?; \
	$(PY) -m competency_cf soak --domain $(DOMAIN) --camera-process; exit $$(( one || $$? ))

evaluate: venv
	$(PY) -m competency_cf evaluate --domain $(DOMAIN)

explain-eval: venv
	$(PY) -m competency_cf explain-eval --domain $(DOMAIN)

# Training augmentation per domain, as the committed models were trained (models/README.md).
TRAIN_FLAGS_lunar := --augment speckle_noise,gaussian_blur --augmix
train: venv
	$(PY) -m competency_cf train --domain $(DOMAIN) $(TRAIN_FLAGS_$(DOMAIN))

examples: venv
	$(PY) -m competency_cf examples --domain $(DOMAIN) --per-cause 100

calibrate-report: venv
	$(PY) -m competency_cf calibrate-report --domain $(DOMAIN)

# Competency and the standard detectors under common corruptions and unfamiliar objects.
robustness: venv
	$(PY) -m competency_cf robustness --domain $(DOMAIN)

clean-venv:
	rm -rf $(VENV)
