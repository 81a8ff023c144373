# One FROM scratch stage per tool: the image holds the static binary and nothing else.
# The binaries are built on the host first, for amd64 and arm64 (`make build`), and `make images`
# builds each image for each architecture in turn, from target/image-bin/, where it puts the
# binaries of the architecture it builds just before:
#   docker build --platform linux/arm64 --target init -t podkit/init:latest-arm64 .
# Why not one context for both, picked by TARGETARCH: Docker's classic builder (20.10, without
# buildx: this machine's) sets no TARGETARCH, commits an ARG step inside a stage as an image of
# the host's platform, and finds cached steps whatever their platform, so an image built for one
# architecture breaks the next build for the other ("does not match the specified platform").
# Each stage therefore starts with its architecture's binary, so that no cached step is shared
# between the two, and the files both share (the CA bundle, /git) come after it.

# podkit/toolbox, first: the classic builder builds every stage before the one it is asked for,
# and `make test` stages the arm64 binaries of podkit-init and the toolbox alone.
# podkit/toolbox: every tool in one binary, /podkit (bins/toolbox), for one image that serves as
# many sidecars: `podkit TOOL ARGS`, or /podkit-TOOL, a link to it (`make images` makes the links
# in target/image-bin/toolbox/, and COPY of a directory keeps them links). The CA bundle and /git
# of the tools that need them.
FROM scratch AS toolbox
COPY target/image-bin/toolbox/ /
COPY target/image-root/etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --chown=65532:65532 target/image-root/git/ /git/
USER 65532:65532
ENTRYPOINT ["/podkit"]

FROM scratch AS init
COPY target/image-bin/podkit-init /podkit-init
# Unprivileged by default (distroless's "nonroot"); run as root only if the workload needs it.
USER 65532:65532
ENTRYPOINT ["/podkit-init"]

FROM scratch AS probe
COPY target/image-bin/podkit-probe /podkit-probe
COPY target/image-root/etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
USER 65532:65532
ENTRYPOINT ["/podkit-probe"]

# TLS ambassador and terminator: makes TLS connections (client mode), so it carries the CA bundle
# for targets verified against the system roots.
FROM scratch AS ambassador
COPY target/image-bin/podkit-ambassador /podkit-ambassador
COPY target/image-root/etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
USER 65532:65532
ENTRYPOINT ["/podkit-ambassador"]

# ConfigMap/Secret reload sidecar: watches mounted volumes, calls webhooks on the pod's loopback,
# signals processes of a pod with a shared process namespace, runs commands. No TLS, no CA bundle.
FROM scratch AS reload
COPY target/image-bin/podkit-reload /podkit-reload
USER 65532:65532
ENTRYPOINT ["/podkit-reload"]

# The adapter sidecar: reads StatsD from the app on the pod's network, follows its logs on a shared
# volume, fetches its JSON endpoints, serves /metrics on 9102. Its only outgoing connections are
# plain-http:// --json fetches, so no CA bundle.
FROM scratch AS metrics
COPY target/image-bin/podkit-metrics /podkit-metrics
USER 65532:65532
EXPOSE 9102
ENTRYPOINT ["/podkit-metrics"]

# The git-clone initializer and sync sidecar: fetches over https (so the CA bundle), http and
# git://; writes into the volume at --root, which must be writable by its user (fsGroup).
# /git, empty and owned by that user, is a mount point for --root=/git: Docker gives a new named
# volume mounted there the directory's owner and mode, so `-v site:/git` is writable as
# 65532 with no chown (in Kubernetes, fsGroup does it for the volume, and /git is not needed).
FROM scratch AS git
COPY target/image-bin/podkit-git /podkit-git
COPY target/image-root/etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --chown=65532:65532 target/image-root/git/ /git/
USER 65532:65532
ENTRYPOINT ["/podkit-git"]
