# leadergate build, test and release targets.
#
#   make build      ./leadergate for this machine
#   make test       go test ./...
#   make dist       static linux/amd64 and linux/arm64 binaries + SHA256SUMS in dist/
#
# VERSION and COMMIT are stamped into main.version and main.commit; override
# them on the command line (make dist VERSION=v1.2.3) when building outside git.

GO      ?= go
# Evaluated once (not on every use), and only when not given.
ifeq ($(origin VERSION),undefined)
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
endif
ifeq ($(origin COMMIT),undefined)
COMMIT  := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
endif
# sha256sum on Linux, shasum on macOS: both print "HASH  NAME".
SHA256SUM ?= $(shell command -v sha256sum >/dev/null 2>&1 && echo sha256sum || echo "shasum -a 256")
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
DIST    ?= dist
# Release builds carry Prometheus metrics (the metrics build tag: client_golang
# and protobuf add 2.6 MB). Without inlining (-gcflags=all=-l) the binary is
# 1.9 MB smaller, which keeps it under 16 MiB with metrics; start-up, which is
# what a cron line pays, measured no slower. make dist TAGS= GCFLAGS= builds
# the plain toolchain default (no metrics, 15.4 MB).
TAGS    ?= metrics
GCFLAGS ?= all=-l
# The architectures Elastic Beanstalk and EC2 offer: x86_64 and Graviton.
ARCHES  := amd64 arm64

.PHONY: all build test bench vet fmt-check dist clean

all: vet test build

build:
	$(GO) build -trimpath -tags "$(TAGS)" -gcflags "$(GCFLAGS)" -ldflags "$(LDFLAGS)" -o leadergate .

test:
	$(GO) test ./...

bench:
	./scripts/bench.sh

vet:
	$(GO) vet ./...

# Fails, listing the files, when any Go file is not gofmt'ed.
fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './dist/*'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Static binaries (CGO_ENABLED=0: no libc dependency, so one binary runs on
# Amazon Linux 2, AL2023 and any other Linux) and their checksums in
# sha256sum format, checkable with: cd dist && sha256sum -c SHA256SUMS
# Binaries are built under a temporary name and renamed, so an interrupted
# build never leaves a truncated binary with a release name.
dist:
	@mkdir -p $(DIST)
	@set -e; for arch in $(ARCHES); do \
		echo "build $(DIST)/leadergate-linux-$$arch ($(VERSION) $(COMMIT))"; \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -tags "$(TAGS)" -gcflags "$(GCFLAGS)" -ldflags "$(LDFLAGS)" \
			-o $(DIST)/.leadergate-linux-$$arch.tmp . ; \
		mv $(DIST)/.leadergate-linux-$$arch.tmp $(DIST)/leadergate-linux-$$arch; \
	done
	cd $(DIST) && $(SHA256SUM) $(addprefix leadergate-linux-,$(ARCHES)) > SHA256SUMS.tmp && mv SHA256SUMS.tmp SHA256SUMS

clean:
	rm -rf $(DIST) leadergate
