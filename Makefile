# Build, test and benchmark stack. `make test` runs the root-only
# integration tests too when it runs as root (CI does).
GO      ?= go
BIN     ?= bin/stack
ROOT    := $(shell id -u)
# Packages that must build and pass on any OS (STYLE.md: Linux isolation).
PORTABLE := ./spec/... ./planner/... ./internal/errdefs/...

.PHONY: build test test-unit test-root bench bench-peers fuzz lint example clean

build:
	$(GO) build -o $(BIN) ./cmd/stack

test: lint
ifeq ($(ROOT),0)
	STACK_TEST_ROOT=1 $(GO) test -count=1 -timeout 30m ./...
else
	$(GO) test -count=1 ./...
endif

test-unit:
	$(GO) test -count=1 ./...

test-root:
	STACK_TEST_ROOT=1 $(GO) test -count=1 -timeout 30m ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=darwin $(GO) vet $(PORTABLE)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./spec/... ./planner/...

# stack against crun, runc, podman and podman-compose, as root; writes
# bench/RESULTS.md. BENCHFLAGS=-quick for a 2-minute run.
bench-peers:
	$(GO) run ./bench $(BENCHFLAGS)

fuzz:
	$(GO) test ./spec -run '^$$' -fuzz FuzzLoad -fuzztime 60s
	$(GO) test ./spec -run '^$$' -fuzz FuzzInterpolate -fuzztime 30s
	$(GO) test ./spec -run '^$$' -fuzz FuzzParseDotEnv -fuzztime 30s

# The main job: build stack, make a busybox image from the host's static
# busybox (installing busybox-static when missing), bring up
# examples/hello, and show it working. The CLI starts its daemon on demand.
example: build
	@dpkg -s busybox-static >/dev/null 2>&1 || apt-get install -y -qq busybox-static >/dev/null
	@$(BIN) image inspect busybox >/dev/null 2>&1 || $(BIN) image bootstrap busybox
	$(BIN) -f examples/hello/stack.yaml up -d
	$(BIN) -f examples/hello/stack.yaml ps
	$(BIN) -f examples/hello/stack.yaml logs client
	curl -s http://127.0.0.1:8080/

clean:
	rm -rf bin
