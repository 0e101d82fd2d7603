# The two commands a new user needs: `make run` and `make test`. Both set everything up themselves.
VENV := .venv
PY := $(VENV)/bin/python
export QT_QPA_PLATFORM ?= $(if $(DISPLAY)$(WAYLAND_DISPLAY),,offscreen)

.PHONY: run test bench bundle venv clean screenshots

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
	$(PY) -m pip install -q -e ".[bundle]"
	$(VENV)/bin/pyinstaller --noconfirm --clean build.spec
	QT_QPA_PLATFORM=offscreen dist/ketachart/ketachart selftest --db "$$(mktemp -d)/bundle-selftest.db"
	@du -sh dist/ketachart

clean:
	rm -rf build dist .pytest_cache
