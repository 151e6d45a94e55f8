# The two commands of the README: `make demo` (set up + reproduce the paper) and `make test`.
.PHONY: setup build image demo test lint check

setup:
	bash scripts/setup.sh

build:
	npm run -s build

image: setup
	node dist/cli/main.js image build

demo: image
	node dist/cli/main.js run examples/campaigns/paper.yaml

test: setup
	npx biome check .
	npx tsc -p tsconfig.check.json
	npx vitest run

lint:
	npx biome check .
