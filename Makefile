# The two commands a new user needs: `make run` and `make test`. Both set everything up themselves.
VENV := .venv
PY := $(VENV)/bin/python
export QT_QPA_PLATFORM ?= $(if $(DISPLAY)$(WAYLAND_DISPLAY),,offscreen)

.PHONY: run test bench bundle deb venv clean screenshots lock

venv:
	@scripts/bootstrap.sh

run: venv
	$(VENV)/bin/ketachart --demo $(ARGS)

test: venv
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/lint-imports
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest $(PYTEST_ARGS)

bench: venv
	QT_QPA_PLATFORM=offscreen $(PY) -m bench $(ARGS)

bundle: venv
	$(PY) -m pip install -q -c requirements/constraints.txt -e ".[bundle]"
	$(VENV)/bin/pyinstaller --noconfirm --clean build.spec
	QT_QPA_PLATFORM=offscreen dist/ketachart/ketachart selftest --db "$$(mktemp -d)/bundle-selftest.db"
	@$(PY) -m bench bundle

# A Debian package of the bundle (/opt/ketachart, /usr/bin/ketachart, desktop entry, ketachart group).
# Builds the bundle first when there is none (`make bundle deb` rebuilds both).
deb: venv
	@[ -x dist/ketachart/ketachart ] || $(MAKE) bundle
	bash packaging/deb/build.sh dist/ketachart dist

# Regenerate requirements/constraints.txt (the locked versions) after changing dependencies.
lock:
	bash scripts/lock-deps.sh

clean:
	rm -rf build dist .pytest_cache
