# Build, test and benchmark stack. `make test` runs the root-only
# integration tests too when it runs as root (CI does).
GO      ?= go
BIN     ?= bin/stack
ROOT    := $(shell id -u)
# Packages that must build and pass on any OS (STYLE.md: Linux isolation).
PORTABLE := ./spec/... ./planner/... ./internal/errdefs/... ./internal/ident/...

.PHONY: build test test-unit test-root test-faults bench bench-peers fuzz lint example lemp kube-harness test-kube clean

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

# The fault suite alone (it runs in test-root too): the daemon killed at
# random moments of up and down, shims and inits killed, a full disk.
# STACK_FAULT_SEED=N repeats a run.
test-faults:
	STACK_TEST_ROOT=1 $(GO) test -count=1 -timeout 20m -run '^TestRootFaults' -v ./test/e2e/

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
	$(GO) test ./image/build -run '^$$' -fuzz FuzzParseDockerfile -fuzztime 30s
	$(GO) test ./api -run '^$$' -fuzz FuzzFrameRead -fuzztime 30s
	$(GO) test ./api -run '^$$' -fuzz FuzzStreamError -fuzztime 30s
	$(GO) test ./network/dns -run '^$$' -fuzz FuzzParseResolvConf -fuzztime 30s
	$(GO) test ./internal/ident -run '^$$' -fuzz FuzzName -fuzztime 30s
	$(GO) test ./runtime/seccomp -run '^$$' -fuzz FuzzCompile -fuzztime 30s
	$(GO) test ./runtime/seccomp -run '^$$' -fuzz FuzzLoadProfile -fuzztime 30s
	$(GO) test ./kube -run '^$$' -fuzz FuzzDecodeExtension -fuzztime 30s
	$(GO) test ./dockerapi -run '^$$' -fuzz '^FuzzParseFilters$$' -fuzztime 30s
	$(GO) test ./dockerapi -run '^$$' -fuzz '^FuzzTranslateCreate$$' -fuzztime 60s
	$(GO) test ./dockerapi -run '^$$' -fuzz '^FuzzParseBind$$' -fuzztime 30s
	$(GO) test ./dockerapi -run '^$$' -fuzz '^FuzzNetworkRequests$$' -fuzztime 30s

# need installs Debian packages that are missing (a fresh machine has no
# apt lists yet, hence the update).
need = dpkg -s $(1) >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq --no-install-recommends $(1) >/dev/null; }

# The main job: build stack, make a busybox image from the host's static
# busybox (installing busybox-static when missing), bring up
# examples/hello, and show it working. The CLI starts its daemon on demand.
example: build
	@$(call need,busybox-static curl nftables)
	@$(BIN) image inspect busybox >/dev/null 2>&1 || $(BIN) image bootstrap busybox
	$(BIN) -f examples/hello/stack.yaml up -d
	$(BIN) -f examples/hello/stack.yaml ps
	$(BIN) -f examples/hello/stack.yaml logs client
	curl -s http://127.0.0.1:8080/

# examples/lemp (nginx + php-fpm + mariadb): build stack, make the
# debian:bookworm base image with mmdebstrap (installing it when missing),
# bring the example up (up builds its three images the first time), and
# show the page once it answers.
lemp: build
	@$(call need,mmdebstrap curl nftables)
	@$(BIN) image inspect debian:bookworm >/dev/null 2>&1 || $(BIN) image bootstrap debian:bookworm
	$(BIN) -f examples/lemp/stack.yaml up -d
	$(BIN) -f examples/lemp/stack.yaml ps
	@url=http://127.0.0.1:$${LEMP_HTTP_PORT:-8080}/; for i in $$(seq 100); do \
		curl -fsS "$$url" 2>/dev/null && exit 0; sleep 0.2; \
	done; echo "$$url did not answer in 20s"; exit 1

# The control plane the kube API-server tests run (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kwok), built from the pinned
# tools module into ~/.cache/stack-kube (15 to 28 minutes cold on 2 cores,
# a second warm); then those tests alone.
kube-harness:
	bash kube/harness/build.sh

test-kube: kube-harness
	$(GO) test -count=1 -timeout 30m ./kube/...

clean:
	rm -rf bin
