# podkit: build static binaries, scratch images, and run everything.
#   make build    static musl binaries for amd64 and arm64, in target/x86_64-unknown-linux-musl/release/
#                 and target/arm64/aarch64-unknown-linux-musl/release/
#   make images   podkit/<tool>:latest (amd64) and podkit/<tool>:latest-arm64 for every tool and
#                 podkit/toolbox, all six in one (skipped when no Docker engine answers)
#   make release  each image as a two-architecture OCI image index (target/dist/), with SBOMs
#   make test     lint, unit tests, PID-namespace and container tests
#   make demo     build everything and run the example pod
#   make bench    side-by-side comparisons with the tools podkit replaces

TARGET  := x86_64-unknown-linux-musl
BIN_DIR := $(CURDIR)/target/$(TARGET)/release
# The second architecture of every image: cross-compiled (.cargo/config.toml says how), run under
# qemu-user by the tests. The test helper is built for the host only. Its builds have a target
# directory of their own, so that they run beside amd64's (cargo locks a target directory for
# one build at a time).
ARM64_TARGET     := aarch64-unknown-linux-musl
ARM64_TARGET_DIR := $(CURDIR)/target/arm64
ARM64_BIN_DIR    := $(ARM64_TARGET_DIR)/$(ARM64_TARGET)/release
# Every shipped tool: one bins/<tool> crate, one Dockerfile stage, one podkit/<tool> image.
TOOLS   := init probe ambassador reload metrics git
# And podkit/toolbox: all six in one binary, `podkit` (bins/toolbox, package podkit-toolbox).
IMAGES  := $(TOOLS) toolbox
# The tools built for arm64 on their own (with their arm64 images), and the images `make release`
# writes: all of them, but for `make test` (see test:).
ARM64_TOOLS    := $(TOOLS)
RELEASE_IMAGES := $(IMAGES)
# Size budgets: podkit-init's (issue 2; tini-static is 708 KB, catatonit 699 KB),
# podkit-probe's (issue 3; grpc_health_probe is over 10 MB) and podkit-ambassador's (issue 4;
# ghostunnel is about 20 MB, stunnel needs OpenSSL's 5 MB of shared libraries).
INIT_MAX_BYTES       := 500000
PROBE_MAX_BYTES      := 3000000
AMBASSADOR_MAX_BYTES := 4000000
# podkit-metrics' (issue 11): three inputs, the mapping engine and an HTTP client, 3.5 MB today.
METRICS_MAX_BYTES    := 4000000
# podkit-git's (issue 12): gitoxide, reqwest and rustls; its image, with the CA bundle, at most
# 12 MB (git-sync's carries git and ssh).
GIT_MAX_BYTES        := 11500000
# podkit, the multi-call binary of all six (bins/toolbox): podkit-git and what the others add
# to it, 13.9 MB on amd64 against 21.5 MB for the six apart.
TOOLBOX_MAX_BYTES    := 15000000

export PODKIT_BIN_DIR := $(BIN_DIR)
export PODKIT_ARM64_BIN_DIR := $(ARM64_BIN_DIR)
# What the tests read of the two above (tests/src/arm64.rs, tests/tests/release.rs).
export PODKIT_ARM64_TOOLS = $(ARM64_TOOLS)
export PODKIT_RELEASE_IMAGES = $(RELEASE_IMAGES)

.PHONY: build build-amd64 build-arm64 images release lint test demo bench clean

build:
	@for target in $(TARGET) $(ARM64_TARGET); do \
	  rustup target list --installed | grep -qx "$$target" || rustup target add "$$target" || exit 1; \
	done
	@# Both architectures at once: each binary's fat-LTO link runs on one core, so one build
	@# alone leaves the other core idle much of the time (22 min one after the other on 2 cores).
	@$(MAKE) --no-print-directory -j2 build-amd64 build-arm64 ARM64_TOOLS="$(ARM64_TOOLS)"
	@for bin in $(TOOLS:%=$(BIN_DIR)/podkit-%) $(BIN_DIR)/podkit $(BIN_DIR)/podkit-testhelper $(ARM64_TOOLS:%=$(ARM64_BIN_DIR)/podkit-%) $(ARM64_BIN_DIR)/podkit; do \
	  file -L $$bin | grep -q 'statically linked' || { echo "$$bin is not statically linked"; exit 1; }; \
	done
	@file -L $(ARM64_TOOLS:%=$(ARM64_BIN_DIR)/podkit-%) $(ARM64_BIN_DIR)/podkit | grep -v -q 'ARM aarch64' \
	  && { echo "a binary in $(ARM64_BIN_DIR) is not for arm64"; exit 1; } || true
	@# The same budget for both architectures (arm64's binaries come out smaller).
	@arm64=" $(ARM64_TOOLS:%=podkit-%) podkit "; \
	for budget in podkit-init:$(INIT_MAX_BYTES) podkit-probe:$(PROBE_MAX_BYTES) podkit-ambassador:$(AMBASSADOR_MAX_BYTES) podkit-metrics:$(METRICS_MAX_BYTES) podkit-git:$(GIT_MAX_BYTES) podkit:$(TOOLBOX_MAX_BYTES); do \
	  bin=$${budget%%:*}; max=$${budget##*:}; paths=$(BIN_DIR)/$$bin; \
	  case "$$arm64" in *" $$bin "*) paths="$$paths $(ARM64_BIN_DIR)/$$bin" ;; esac; \
	  for path in $$paths; do \
	    size=$$(stat -c %s $$path) || exit 1; \
	    [ $$size -le $$max ] || { echo "$$path is $$size bytes, over its budget of $$max"; exit 1; }; \
	  done; \
	done

# One build per tool, not one of the workspace: cargo unifies the features of lib that the
# packages built together ask for, and a tool would carry what only another needs (86 KB of
# podkit-probe's were ambassador's).
build-amd64:
	@for package in $(TOOLS:%=podkit-%) podkit-toolbox podkit-tests; do \
	  cargo build --release --locked --target $(TARGET) -p $$package --bins || exit 1; \
	done

build-arm64:
	@for package in $(ARM64_TOOLS:%=podkit-%) podkit-toolbox; do \
	  CARGO_TARGET_DIR=$(ARM64_TARGET_DIR) cargo build --release --locked --target $(ARM64_TARGET) -p $$package --bins || exit 1; \
	done

# The CA bundle for the images of tools that make TLS connections, from Debian's ca-certificates.
CA_BUNDLE := /etc/ssl/certs/ca-certificates.crt

# The images' name is $(IMAGE_PREFIX)/<tool>: `make images IMAGE_PREFIX=me` builds a second set
# beside podkit's own (tests/tests/arm64_images.rs reads it as PODKIT_IMAGE_PREFIX; the other
# container tests expect podkit/).
IMAGE_PREFIX ?= podkit
export PODKIT_IMAGE_PREFIX := $(IMAGE_PREFIX)
# The OCI labels of every image, from the workspace's Cargo.toml and the git checkout (a
# revision with changes not committed is marked -dirty).
VERSION  := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
LICENSES := $(shell sed -n 's/^license = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
SOURCE   := $(shell sed -n 's/^repository = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
REVISION := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)
LABELS   := --label org.opencontainers.image.source=$(SOURCE) \
            --label org.opencontainers.image.version=$(VERSION) \
            --label org.opencontainers.image.revision=$(REVISION) \
            --label org.opencontainers.image.licenses=$(LICENSES)
# The images' architectures, each with its binaries' directory: amd64's tag is plain (`latest`,
# the host's), the others' carry their name (`latest-arm64`): Docker's image store holds one
# architecture per tag.
ARCHES := amd64:$(BIN_DIR) arm64:$(ARM64_BIN_DIR)

images: build
	@# The git image's /git: an empty directory (Dockerfile).
	@mkdir -p target/image-root/etc/ssl/certs target/image-root/git && cp $(CA_BUNDLE) target/image-root/etc/ssl/certs/
	@if docker info >/dev/null 2>&1; then \
	  for arch_dir in $(ARCHES); do \
	    arch=$${arch_dir%%:*}; dir=$${arch_dir#*:}; \
	    tools="$(TOOLS)"; [ $$arch = amd64 ] || tools="$(ARM64_TOOLS)"; \
	    rm -rf target/image-bin && mkdir -p target/image-bin/toolbox && cp $$dir/podkit target/image-bin/toolbox/ || exit 1; \
	    for tool in $$tools; do cp $$dir/podkit-$$tool target/image-bin/ || exit 1; done; \
	    for tool in $(TOOLS); do ln -s podkit target/image-bin/toolbox/podkit-$$tool || exit 1; done; \
	    for image in $$tools toolbox; do \
	      tag=$(IMAGE_PREFIX)/$$image:latest; [ $$arch = amd64 ] || tag=$$tag-$$arch; \
	      docker build --quiet --platform linux/$$arch --target $$image $(LABELS) \
	        --label org.opencontainers.image.title=podkit-$$image --tag $$tag . >/dev/null || exit 1; \
	      echo "built $$tag ($$(docker image inspect -f '{{.Size}}' $$tag) bytes)"; \
	    done; \
	  done; \
	else \
	  echo "images: skipped, no Docker engine answers (docker info failed)"; \
	fi

# Each image as an OCI image index of both architectures, written as an OCI layout
# (target/dist/oci/podkit-<tool>/) and as the same layout in one archive
# (target/dist/podkit-<tool>-<version>.oci.tar), both named <version>, from the images
# `make images` built and the tests ran; and the CycloneDX SBOM of each binary
# (target/dist/sbom/podkit-<tool>-<version>-<arch>.cdx.json, see release/sbom.py). No registry is
# involved; one command pushes both architectures:
#   skopeo copy --all oci-archive:target/dist/podkit-init-$(VERSION).oci.tar docker://REGISTRY/podkit/init:$(VERSION)
# Not under target/release/: cargo owns that directory (host builds, build scripts, `cargo clean
# --release`).
DIST := target/dist
ANNOTATIONS := $(subst --label,--annotation,$(LABELS))

release: images
	@command -v skopeo >/dev/null || { echo "release: skopeo is missing (Debian: apt-get install skopeo)"; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "release: no Docker engine answers, and the images are in it"; exit 1; }
	@git diff --quiet HEAD 2>/dev/null || echo "release: uncommitted changes: the images' revision is $(REVISION)"
	@rm -rf $(DIST) && mkdir -p $(DIST)/oci $(DIST)/sbom
	@for tool in $(RELEASE_IMAGES); do \
	  layout=$(DIST)/oci/podkit-$$tool; archive=$(DIST)/podkit-$$tool-$(VERSION).oci.tar; \
	  for arch_dir in $(ARCHES); do \
	    arch=$${arch_dir%%:*}; tag=$(IMAGE_PREFIX)/$$tool:latest; [ $$arch = amd64 ] || tag=$$tag-$$arch; \
	    skopeo copy --quiet docker-daemon:$$tag oci:$$layout:$$arch || exit 1; \
	  done; \
	  python3 release/oci_index.py $$layout $(VERSION) $(foreach a,$(ARCHES),$(firstword $(subst :, ,$(a)))) \
	    $(ANNOTATIONS) --annotation org.opencontainers.image.title=podkit-$$tool || exit 1; \
	  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C $$layout -cf $$archive . || exit 1; \
	  skopeo inspect --raw oci-archive:$$archive:$(VERSION) | grep -q '"architecture":"arm64"' \
	    || { echo "release: skopeo does not read $$archive as an index with arm64"; exit 1; }; \
	  echo "released $$archive"; \
	  for triple in $(TARGET):amd64 $(ARM64_TARGET):arm64; do \
	    python3 release/sbom.py podkit-$$tool $${triple%%:*} --revision $(REVISION) --source $(SOURCE) \
	      > $(DIST)/sbom/podkit-$$tool-$(VERSION)-$${triple##*:}.cdx.json || exit 1; \
	  done; \
	done
	@echo "push one with: skopeo copy --all oci-archive:$(DIST)/podkit-init-$(VERSION).oci.tar docker://REGISTRY/podkit/init:$(VERSION)"

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

# The arm64 side of the tests: podkit-init, built on its own, and the toolbox, which holds every
# tool's code, run under qemu; their images; a release of those two. The other tools' own arm64
# builds repeat the same code's fat-LTO link (CI on 2 cores: 33 min with them, 30 without), so `make test` leaves
# them to `make build`, `make images` and `make release`.
test: ARM64_TOOLS := init
test: RELEASE_IMAGES := init toolbox
test: lint release
	cargo test --workspace --locked
	# The lib's feature-gated parts, whichever tools use them yet.
	cargo test -p podkit --all-features --locked

demo: images
	examples/compose/demo.sh

bench: build
	python3 bench/init.py
	python3 bench/probe.py
	python3 bench/ambassador.py
	python3 bench/reload.py
	python3 bench/metrics.py
	python3 bench/metrics_logs.py
	python3 bench/git.py

clean:
	cargo clean
