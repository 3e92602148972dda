# leadergate build, test and release targets.
#
#   make build      ./leadergate for this machine
#   make test       go test ./...
#   make dist       static linux/amd64 and linux/arm64 binaries, without and
#                   with metrics, + SHA256SUMS in dist/
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
# Two builds of one program, both without inlining (-gcflags=all=-l), which
# makes them smaller and faster to start (fewer pages to map):
#   leadergate          the default: no Prometheus metrics; 14.8 MB, and the
#                       cached check a cron line pays at 1.17x the baseline
#                       (docs/performance.md)
#   leadergate-metrics  -tags metrics, for schedule --metrics-addr; 16.7 MB
#                       (15.97 MiB, of the 16 MiB limit).
#                       client_golang's package init (its default registry
#                       registers the Go and process collectors, protobuf its
#                       descriptors) costs every process about 4.5 ms before
#                       main: a daemon pays it once, a cron line every run.
# make build TAGS=metrics builds the metrics one as ./leadergate.
TAGS    ?=
GCFLAGS ?= all=-l
# name:tags of each release binary.
VARIANTS := leadergate: leadergate-metrics:metrics
# The architectures Elastic Beanstalk and EC2 offer: x86_64 and Graviton.
ARCHES  := amd64 arm64
BINARIES := $(foreach a,$(ARCHES),$(foreach v,$(VARIANTS),$(firstword $(subst :, ,$(v)))-linux-$(a)))

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
	@set -e; for arch in $(ARCHES); do for v in $(VARIANTS); do \
		name=$${v%%:*}-linux-$$arch; \
		echo "build $(DIST)/$$name ($(VERSION) $(COMMIT))"; \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -tags "$${v#*:}" -gcflags "$(GCFLAGS)" -ldflags "$(LDFLAGS)" \
			-o $(DIST)/.$$name.tmp . ; \
		mv $(DIST)/.$$name.tmp $(DIST)/$$name; \
	done; done
	cd $(DIST) && $(SHA256SUM) $(BINARIES) > SHA256SUMS.tmp && mv SHA256SUMS.tmp SHA256SUMS

clean:
	rm -rf $(DIST) leadergate
