# The two commands a new user needs:  make demo   and   make test
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.caimg-installed

.PHONY: demo test install system-deps clean examples bench wheel-check

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
	$(VENV)/bin/ruff check caimg tests benchmarks docs
	$(PY) -m pytest -p xvfb --doctest-modules caimg tests
	$(MAKE) --no-print-directory wheel-check

# The package as a user gets it: build the wheel, install it (not editable) into a fresh
# virtual environment, and run the CLI from a folder outside the repository.
WHEEL_VENV := build/wheel-venv
# a vendor file read through the [formats] extra when ../shared/data is there
SHARED_ND2 := $(CURDIR)/../shared/data/vendor-nd2-nikon-a1-tzc-pims/cluster.nd2
wheel-check: $(STAMP)
	rm -rf build/wheel build/wheel-check $(WHEEL_VENV)
	$(PY) -m pip wheel --quiet --no-deps --wheel-dir build/wheel .
	$(PYTHON) -m venv $(WHEEL_VENV)
	$(WHEEL_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(WHEEL_VENV)/bin/python -m pip install --quiet "$$(ls build/wheel/caimg-*.whl)[formats]"
	mkdir -p build/wheel-check
	cd build/wheel-check && ../wheel-venv/bin/caimg pipelines \
	  && ../wheel-venv/bin/caimg run ../../example_stacks/fluo4_cells.tif --out results \
	       --stimulus-time 20 \
	  && test -f results/fluo4_cells/kinetics.csv \
	  && ../wheel-venv/bin/python -c "import caimg, pathlib; \
	       assert 'site-packages' in caimg.__file__, caimg.__file__; print('wheel ok:', caimg.__file__)"
	if [ -f "$(SHARED_ND2)" ]; then \
	  cd build/wheel-check && ../wheel-venv/bin/caimg inspect --json "$(SHARED_ND2)" \
	    --set input.z_plane=0 --set "input.channels={f = 0}" > nd2.json \
	  && grep -q '"format": "nd2"' nd2.json && echo "wheel ok: caimg inspect reads ND2"; \
	else echo "wheel-check: $(SHARED_ND2) absent, ND2 inspect skipped"; fi

bench: $(STAMP)
	$(PY) benchmarks/throughput.py

examples: $(STAMP)
	$(PY) example_stacks/make_examples.py

clean:
	rm -rf $(VENV) demo_results .pytest_cache build
