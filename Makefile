# The README's two commands: `make app` and `make test`. Both create .venv when missing and install exactly
# requirements.lock into it; they reinstall only when the lock or pyproject.toml changed, and never re-resolve
# (pip keeps its cache, so torch is downloaded once). `make lock` is the one place versions are chosen.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.serwb-installed
LOCK   := requirements.lock

.PHONY: app test bench lock doctor system-deps demo-corpus real-corpus real-cue demo-models real-models \
	real-explanations explanations reproduce reproductions screenshot clean

app: $(STAMP)
	$(PY) -m streamlit run workbench/app.py

test: $(STAMP) system-deps
	$(PY) -m pytest

# The README's picture (docs/screenshot.png), taken by the real-browser test of the Explain page on a real word.
screenshot: $(STAMP) system-deps
	SERWB_SCREENSHOT=$(CURDIR)/docs/screenshot.png $(PY) -m pytest -q tests/e2e/test_workbench.py -k real_word

$(PY):
	$(PYTHON) -m venv $(VENV)

# Every distribution at its locked version and hash; then serwb itself without resolving anything; then drop what
# the lock no longer names and fail with a list of differences if anything is still off.
$(STAMP): pyproject.toml $(LOCK) | $(PY)
	$(PY) -m pip install --require-hashes -r $(LOCK)
	$(PY) -m pip install --no-deps --no-build-isolation -e .
	$(PY) -m core.environment --sync
	touch $@

# Re-resolve pyproject.toml (runtime + dev + baseline extras) for every supported Python and platform, keeping
# existing pins where they still fit; `make lock LOCK_FLAGS=--upgrade` moves everything to the newest versions.
UV_VERSION := 0.13.9
LOCK_TOOLS := build/lock-tools
lock:
	test -x $(LOCK_TOOLS)/bin/uv || ($(PYTHON) -m venv $(LOCK_TOOLS) && $(LOCK_TOOLS)/bin/pip install -q uv==$(UV_VERSION))
	$(LOCK_TOOLS)/bin/uv pip compile pyproject.toml --extra dev --extra baseline --universal --python-version 3.10 \
	  --generate-hashes --custom-compile-command "make lock" --quiet $(LOCK_FLAGS) -o $(LOCK)

# What `serwb doctor` says: torch, torchaudio (does its native library load?), the device, drift from the lock.
doctor: $(STAMP)
	$(PY) -m core.cli doctor

# Debian packages the tests use: espeak-ng (demo corpus), chromium (browser test).
# Installed when missing and when we may (root with apt-get); otherwise say what is missing.
system-deps:
	@missing=""; \
	command -v espeak-ng >/dev/null || missing="$$missing espeak-ng"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	  else \
	    echo "warning: missing Debian packages:$$missing (run: sudo apt-get install$$missing)"; \
	  fi; \
	fi

demo-corpus: $(STAMP) system-deps
	$(PY) -m core.cli corpus demo --out assets/demo --seed 0 --size full

# The shipped real corpus assets/polish ("Emotions in Polish speech recordings", CC BY): the 16 kHz copy inside the
# nkululeko 1.14.1 sdist (pip download, SHA-256 checked), written as 16-bit FLAC with README.md and licence text.
real-corpus: $(STAMP)
	$(PY) -m core.data.polish --out assets/polish --work build/polish

# The planted-cue set from real recordings (assets/polish-cue): one angry or fearful word of a speaker between one or
# two neutral words of the same speaker on each side (level-matched, noise-floor pauses; the position varies);
# cue_start/cue_end give the planted word's span (core/data/real_cue.py).
real-cue: $(STAMP)
	$(PY) -m core.data.real_cue --out assets/polish-cue

# Speed figures for docs/PERFORMANCE.md: attribution (ours vs library defaults), training throughput, long clips,
# 8 browser sessions at once.
bench: $(STAMP)
	$(PY) -m bench.explain
	$(PY) -m bench.train
	$(PY) -m bench.long_clips
	$(PY) -m bench.load

# The shipped demo checkpoints, retrained from the shipped demo corpus (CPU: see README).
DEMO_TRAIN := $(PY) -m core.cli train --corpus assets/demo --quiet
demo-models: $(STAMP)
	rm -rf build/demo-models
	$(DEMO_TRAIN) --model cnn-eca --model-cfg n=1 --out build/demo-models/cnn-eca
	$(DEMO_TRAIN) --model fusion --model-cfg width=0.25 hidden=64 input_norm=true --seconds 2.9 --lr 3e-3 \
	  --vtlp 0.1 --freq-mask 8 --time-mask 20 --out build/demo-models/fusion
	$(DEMO_TRAIN) --model cnn-atn --model-cfg 'channels=[32,64,64]' pool=2 attn_dim=64 scaled=true --epochs 60 \
	  --lr 3e-3 --lr-decay 0.97 --vtlp 0.1 --freq-mask 8 --time-mask 30 --out build/demo-models/cnn-atn
	@for m in cnn-eca fusion cnn-atn; do rm -rf assets/models/$$m && cp -r build/demo-models/$$m/model assets/models/$$m; done

# The shipped real-speech checkpoints: leave-one-speaker-out CV on assets/polish with the eGeMAPS + SVM baseline scored
# on the same folds in the same run, then the final model on all five speakers (2-core CPU: about 30 minutes).
# cnn3d and fusion were tried too and are not shipped (README, "Real speech": padding test, baseline).
# Short words are padded with their own noise floor at random offsets (--padding noise-floor), never with zeros.
REAL_TRAIN := $(PY) -m core.cli train --corpus assets/polish --folds 5 --grouped --baseline egemaps \
  --padding noise-floor --quiet
REAL_MODELS := polish-cnn-eca polish-cnn-atn
real-models: $(STAMP)
	rm -rf build/real-models
	$(REAL_TRAIN) --model cnn-eca --model-cfg n=1 --seconds 1.7 --epochs 40 --vtlp 0.1 --freq-mask 8 --time-mask 20 \
	  --gain-db 6 --speaker-batches --out build/real-models/polish-cnn-eca
	$(REAL_TRAIN) --model cnn-atn --model-cfg 'channels=[32,32,32]' kernel=9 pool=2 attn_dim=64 scaled=true cmn=true \
	  query=mean --seconds 1.0 --epochs 40 --lr 3e-3 --vtlp 0.1 --freq-mask 8 --time-mask 20 --gain-db 6 \
	  --speed 0.1 --reverb 0.3 --out build/real-models/polish-cnn-atn
	@for m in $(REAL_MODELS); do rm -rf assets/models/$$m && cp -r build/real-models/$$m/model assets/models/$$m; done

# Localisation on the real planted-cue set: every fold model of `make real-models` on the speakers it never heard.
# Every method the CNNs support (`serwb methods`); attention is added for the attention model.
EXPLAIN_METHODS := gradcam,gradcampp,hirescam,occlusion,lime,kernelshap,integrated-gradients,gradient-shap,smoothgrad
real-explanations: $(STAMP)
	$(PY) -m core.cli evaluate-explanations build/real-models/polish-cnn-eca/cv --corpus assets/polish-cue \
	  --methods $(EXPLAIN_METHODS) --out build/real-explanations/polish-cnn-eca --quiet
	$(PY) -m core.cli evaluate-explanations build/real-models/polish-cnn-atn/cv --corpus assets/polish-cue \
	  --methods $(EXPLAIN_METHODS),attention --out build/real-explanations/polish-cnn-atn --quiet
	$(PY) -m core.cli evaluate-explanations build/real-models/polish-cnn-eca/cv --corpus assets/polish-cue \
	  --methods $(EXPLAIN_METHODS) --adapt-to assets/polish --out build/real-explanations/polish-cnn-eca-adapted --quiet
	$(PY) -m core.cli baseline egemaps --corpus assets/polish --grouped --speaker-norm --cue assets/polish-cue \
	  --out build/real-explanations/egemaps-speaker-norm --quiet

# Localisation (planted cues), faithfulness and sanity tables of the demo cnn-eca (README figures).
explanations: $(STAMP)
	$(PY) -m core.cli evaluate-explanations assets/models/cnn-eca --corpus assets/demo --methods $(EXPLAIN_METHODS) \
	  --out build/explanations

# The papers' protocols on our corpora (serwb reproduce): tables beside the papers' in build/reproduce/PAPER-CORPUS
# (results.md, results.json, plots/). Resumable: run again to continue. One paper on one corpus:
#   make reproduce PAPER=s2 CORPUS=assets/polish [EPOCHS=N]   (EPOCHS: a budget for every run, said in the tables)
# All four on both shipped corpora: make reproductions (S0's 49 runs x 6 trainings x 100 epochs want a GPU).
PAPER  ?= s2
CORPUS ?= assets/polish
reproduce: $(STAMP)
	$(PY) -m core.cli reproduce $(PAPER) --corpus $(CORPUS) --out build/reproduce/$(PAPER)-$(notdir $(CORPUS)) \
	  $(if $(EPOCHS),--epochs $(EPOCHS)) --quiet

reproductions: $(STAMP)
	for corpus in assets/polish assets/demo; do for paper in s2 s3 s1 s0; do \
	  $(MAKE) reproduce PAPER=$$paper CORPUS=$$corpus || exit 1; done; done

clean:
	rm -rf $(VENV) .pytest_cache
