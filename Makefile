# The two commands of the README: `make demo` (set up, put `ezone` on PATH, reproduce the paper) and
# `make test`. `make install` / `make uninstall` alone manage the `ezone` link (PREFIX=/usr/local).
.PHONY: setup build image install uninstall demo test lint check

PREFIX ?= /usr/local
BIN := $(PREFIX)/bin/ezone
ENTRY := $(CURDIR)/dist/cli/main.js

setup:
	bash scripts/setup.sh

build:
	npm run -s build

image: setup
	node dist/cli/main.js image build

# A symbolic link, not a copy: ezone finds its package.json, guest sources and node_modules through it,
# and a later `git pull && make build` needs no reinstall. An existing file that is not such a link is
# left alone.
install: setup
	@if [ -e "$(BIN)" ] && [ ! -L "$(BIN)" ]; then \
	  echo "install: $(BIN) exists and is not a link: remove it first" >&2; exit 2; fi
	@mkdir -p "$(PREFIX)/bin"
	ln -sfn "$(ENTRY)" "$(BIN)"
	@echo "install: $(BIN) -> $(ENTRY) ($$("$(BIN)" --version))"

uninstall:
	@if [ -L "$(BIN)" ] && [ "$$(readlink "$(BIN)")" = "$(ENTRY)" ]; then rm -f "$(BIN)" && echo "uninstall: removed $(BIN)"; \
	elif [ -e "$(BIN)" ] || [ -L "$(BIN)" ]; then echo "uninstall: $(BIN) is not this checkout's link: left alone" >&2; exit 2; \
	else echo "uninstall: no $(BIN)"; fi

demo: image install
	"$(BIN)" run examples/campaigns/paper.yaml

test: setup
	npx biome check .
	npx tsc -p tsconfig.check.json
	npm run -s layers
	node scripts/check-function-length.mjs
	npx tsc -p tsconfig.client.json --noEmit
	npx vitest run

lint:
	npx biome check .
