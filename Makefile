# Build, test and benchmark stack. `make test` runs the root-only
# integration tests too when it runs as root (CI does).
GO      ?= go
BIN     ?= bin/stack
ROOT    := $(shell id -u)
# Packages that must build and pass on any OS (STYLE.md: Linux isolation).
PORTABLE := ./spec/... ./planner/... ./internal/errdefs/... ./internal/ident/... ./internal/archive/...

.PHONY: build deps test test-unit test-root test-faults bench bench-peers fuzz lint example lemp kube-harness test-kube clean

# The version and commit `stack version` reports, stamped at link time.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

# All static (CGO_ENABLED=0): they start without a loader, and the
# resident daemon maps no libc. stack-daemon, stack-shim, stack-init and
# stack-kube go beside stack: `stack daemon` (and so the daemon the CLI
# starts) runs the first, stack's own package with the daemon command
# alone (-tags stackdaemon: 5 MiB less resident than the whole CLI; its
# builds run, a process each, from stack); the daemon runs containers'
# shims from the second and their inits from the third (-tags stackinit leaves the runtime's host side out of it, so it
# starts faster); stack's convert and kube commands run the fourth
# (client-go stays out of stack).
build:
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/stack
	CGO_ENABLED=0 $(GO) build -tags stackdaemon -ldflags "$(LDFLAGS)" -o $(dir $(BIN))stack-daemon ./cmd/stack
	CGO_ENABLED=0 $(GO) build -o $(dir $(BIN))stack-shim ./cmd/stack-shim
	CGO_ENABLED=0 $(GO) build -tags stackinit -o $(dir $(BIN))stack-init ./cmd/stack-init
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(dir $(BIN))stack-kube ./cmd/stack-kube

# The Debian packages the root tests use: busybox-static (the busybox
# image), iproute2 and nftables (networks), curl, openssl (the keys of the
# kube API-server tests' control plane), mmdebstrap (the Debian base image
# of the LEMP test), podman (saved images load in it) and docker-compose
# (v1, a client of the Docker API tests).
TEST_DEBS := busybox-static iproute2 nftables curl openssl mmdebstrap podman docker-compose

# deps installs what the tests need and the machine lacks, as root only
# since the tests that need it run as root only: the Debian packages, and
# the kube API-server tests' control plane (kube-harness, cached).
deps:
ifeq ($(ROOT),0)
	bash kube/harness/build.sh
	@missing=""; for p in $(TEST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; fi
	@# The Docker API tests drive a docker CLI: Debian's docker.io for its
	@# client when the machine has none, its daemon kept from starting (its
	@# iptables rules, FORWARD DROP, would change the host's forwarding).
	@if ! command -v docker >/dev/null 2>&1; then echo "installing docker.io (for its docker CLI)"; \
		policy=""; if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; \
			chmod +x /usr/sbin/policy-rc.d; policy=/usr/sbin/policy-rc.d; fi; \
		apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null; status=$$?; \
		if [ -n "$$policy" ]; then rm -f "$$policy"; fi; \
		command -v systemctl >/dev/null 2>&1 && systemctl disable --now docker.socket docker.service >/dev/null 2>&1; \
		exit $$status; fi
endif

# As root, the integration and end-to-end tests run too, after deps has
# installed what they need: `make test` is all a fresh machine needs.
test: deps lint
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
	$(GO) vet -tags stackdaemon ./...
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
	$(GO) test ./spec -run '^$$' -fuzz FuzzVariables -fuzztime 30s
	$(GO) test ./internal/archive -run '^$$' -fuzz FuzzUntar -fuzztime 30s
	$(GO) test ./image/build -run '^$$' -fuzz FuzzParseDockerfile -fuzztime 30s
	$(GO) test ./api -run '^$$' -fuzz FuzzFrameRead -fuzztime 30s
	$(GO) test ./api -run '^$$' -fuzz FuzzStreamError -fuzztime 30s
	$(GO) test ./network/dns -run '^$$' -fuzz FuzzParseResolvConf -fuzztime 30s
	$(GO) test ./internal/ident -run '^$$' -fuzz FuzzName -fuzztime 30s
	$(GO) test ./runtime/seccomp -run '^$$' -fuzz FuzzCompile -fuzztime 30s
	$(GO) test ./cmd/stack -run '^$$' -fuzz FuzzDockerConfig -fuzztime 30s
	$(GO) test ./runtime/seccomp -run '^$$' -fuzz FuzzLoadProfile -fuzztime 30s
	$(GO) test ./kube -run '^$$' -fuzz FuzzDecodeExtension -fuzztime 30s
	$(GO) test ./daemon -run '^$$' -fuzz FuzzParseSubIDs -fuzztime 30s
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
