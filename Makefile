# Spillway build, test and local-cloud targets. `make help` lists them.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

FUNCTIONS := ingest fanout flush
ARCHS     := arm64 amd64
DIST      := dist
GO        ?= go
GOFLAGS_BUILD := -trimpath -buildvcs=false -ldflags='-s -w'
TEST_TIMEOUT  ?= 30m

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'

.PHONY: setup
setup: ## install what builds, tests and the local cloud need (Go modules, Debian packages); idempotent
	@scripts/setup.sh

.PHONY: build
build: lambdas forwarder cli ## build every binary: Lambda zips (arm64, amd64), the forwarder and the operations CLI

.PHONY: lambdas
lambdas: ## build dist/<arch>/<fn>/bootstrap and dist/<fn>-<arch>.zip
	@for arch in $(ARCHS); do for fn in $(FUNCTIONS); do \
	  out=$(DIST)/$$arch/$$fn; mkdir -p $$out; \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -tags lambda.norpc $(GOFLAGS_BUILD) -o $$out/bootstrap ./functions/$$fn/cmd/bootstrap; \
	  touch -t 198001010000 $$out/bootstrap; rm -f $(DIST)/$$fn-$$arch.zip; \
	  (cd $$out && zip -q -X ../../$$fn-$$arch.zip bootstrap); \
	  echo "built $(DIST)/$$fn-$$arch.zip"; \
	done; done

.PHONY: cli
cli: ## build the operations CLI dist/spillway-linux-<arch> (spillway keys, spillway replay; docs/OPERATIONS.md)
	@for arch in $(ARCHS); do \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build $(GOFLAGS_BUILD) -o $(DIST)/spillway-linux-$$arch ./cmd/spillway; \
	  echo "built $(DIST)/spillway-linux-$$arch"; \
	done

# The forwarder's --version and spillway_forwarder_build_info come from here.
FWD_VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
FWD_REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
FWD_VERSION_PKG := github.com/spillwayhq/spillway/forwarder/internal/version
FWD_LDFLAGS := -s -w -X $(FWD_VERSION_PKG).version=$(FWD_VERSION) -X $(FWD_VERSION_PKG).revision=$(FWD_REVISION)

.PHONY: forwarder
forwarder: ## build the static forwarder binaries dist/spillway-forwarder-linux-<arch> (version: FWD_VERSION, default git describe)
	@for arch in $(ARCHS); do \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -buildvcs=false -ldflags='$(FWD_LDFLAGS)' -o $(DIST)/spillway-forwarder-linux-$$arch ./forwarder/cmd/spillway-forwarder; \
	  echo "built $(DIST)/spillway-forwarder-linux-$$arch ($$(stat -c %s $(DIST)/spillway-forwarder-linux-$$arch) bytes)"; \
	done

# Package version: `git describe --tags` (v1.2.3, v1.2.3-4-gHASH, or the bare
# commit without a tag), normalised for dpkg and rpm by packaging.Version.
VERSION ?= $(shell git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null || git describe --always --dirty 2>/dev/null || echo 0.0.0)

.PHONY: package
package: forwarder ## build dist/packages/*.deb and *.rpm (amd64, arm64): binary, systemd unit, config, logrotate; VERSION=v1.2.3 to override
	@rm -rf $(DIST)/packages
	@$(GO) run ./packaging/cmd/mkpkg -version '$(VERSION)' -arch '$(ARCHS)' -binary '$(DIST)/spillway-forwarder-linux-{arch}' -out $(DIST)/packages

.PHONY: test
test: setup ## run every test, the local-cloud end-to-end suites included
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

GCI_SECTIONS := -s standard -s default -s 'prefix(github.com/spillwayhq/spillway)'

.PHONY: lint
lint: setup ## gofmt, import grouping (std, third party, this module), go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed (make fmt):"; echo "$$out"; exit 1; fi
	@out=$$($(GO) tool gci list $(GCI_SECTIONS) $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "import grouping needed (make fmt):"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

.PHONY: fmt
fmt: ## gofmt and group imports (std, third party, this module) in place
	@gofmt -w $$(git ls-files '*.go')
	@$(GO) tool gci write $(GCI_SECTIONS) $$(git ls-files '*.go')

.PHONY: demo
demo: setup ## run the whole pipeline locally on the 10k Apache corpus and show where the data landed
	$(GO) run ./local/cmd/spillway-local demo

.PHONY: local-up
local-up: setup ## start the local cloud in the background (state in .local/; TFVARS=FILE deploys with a .tfvars file, e.g. infra/terraform/examples/local/low-latency.tfvars)
	@mkdir -p .local
	@$(GO) build -o .local/spillway-local ./local/cmd/spillway-local
	@.local/spillway-local up -state-dir .local $(if $(TFVARS),-tfvars $(TFVARS)) > .local/up.log 2>&1 & echo $$! > .local/pid
	@.local/spillway-local wait -state-dir .local -timeout 5m || { cat .local/up.log; exit 1; }
	@cat .local/env

.PHONY: local-down
local-down: ## stop the local cloud started by local-up
	@if [ -f .local/pid ]; then kill -INT $$(cat .local/pid) 2>/dev/null || true; \
	  for i in $$(seq 1 60); do kill -0 $$(cat .local/pid) 2>/dev/null || break; sleep 0.5; done; \
	  rm -f .local/pid; echo "local cloud stopped"; else echo "no local cloud running"; fi

CHAOS_DURATION ?= 5m
CHAOS_FLAGS    ?= -rate 5 -drain 10m

.PHONY: chaos
chaos: setup ## scale/fault run, not part of test: shards x parallelization factor, hot table, throttling bursts, crashes, racing flushes; exact accounting (CHAOS_DURATION=5m, CHAOS_FLAGS="-shards 4 -pf 2 -rate 5 -drain 10m")
	$(GO) run ./bench/e2e -setting chaos -duration $(CHAOS_DURATION) $(CHAOS_FLAGS)

.PHONY: bench
bench: setup ## run the Go benchmarks, then the forwarder throughput comparison (with Fluent Bit when it is on PATH)
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 ./shared/... ./functions/... ./forwarder/... | tee bench/last-go-bench.txt
	$(GO) run ./bench/forwarder/run -n $${BENCH_LINES:-2000000} -seed 1

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME (default 20s) each
	@scripts/fuzz-all.sh $${FUZZTIME:-20s}

.PHONY: clean
clean: ## remove build outputs
	rm -rf $(DIST) .local
