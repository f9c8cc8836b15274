# The two commands a new user needs:  make demo   and   make test
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.caimg-installed

.PHONY: demo test install system-deps clean examples bench

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[napari,dask,test]"
	$(VENV)/bin/caimg warmup  # compile the numba kernels once, here, not in the first run
	touch $(STAMP)

install: $(STAMP)

# Xvfb and the xcb libraries Qt needs on a headless Debian machine (napari tests).
system-deps:
	@if ! command -v Xvfb >/dev/null 2>&1 || ! ldconfig -p | grep -q libxcb-icccm.so.4 \
	    || ! ldconfig -p | grep -q libxcb-keysyms.so.1; then \
	  echo "installing Xvfb and Qt's xcb libraries (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-randr0 \
	    libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xinerama0 libxcb-cursor0 \
	    libxkbcommon-x11-0 libgl1 libegl1 libgl1-mesa-dri libfontconfig1 libdbus-1-3 \
	    libglib2.0-0 >/dev/null; \
	fi

demo: $(STAMP)
	rm -rf demo_results
	$(VENV)/bin/caimg run example_stacks --out demo_results --stimulus-time 20

test: $(STAMP) system-deps
	$(PY) -m pytest -p xvfb tests

bench: $(STAMP)
	$(PY) benchmarks/throughput.py

examples: $(STAMP)
	$(PY) example_stacks/make_examples.py

clean:
	rm -rf $(VENV) demo_results .pytest_cache
