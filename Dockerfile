# One FROM scratch stage per tool: the image holds the static binary and nothing else.
# The binaries are built on the host first (`make build`; `make images` does both):
#   docker build --target init -t podkit/init .

FROM scratch AS init
COPY target/x86_64-unknown-linux-musl/release/podkit-init /podkit-init
# Unprivileged by default (distroless's "nonroot"); run as root only if the workload needs it.
USER 65532:65532
ENTRYPOINT ["/podkit-init"]

FROM scratch AS probe
COPY target/image-root/etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY target/x86_64-unknown-linux-musl/release/podkit-probe /podkit-probe
USER 65532:65532
ENTRYPOINT ["/podkit-probe"]

# TLS ambassador and terminator: makes TLS connections (client mode), so it carries the CA bundle
# for targets verified against the system roots.
FROM scratch AS ambassador
COPY target/image-root/etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY target/x86_64-unknown-linux-musl/release/podkit-ambassador /podkit-ambassador
USER 65532:65532
ENTRYPOINT ["/podkit-ambassador"]

# ConfigMap/Secret reload sidecar: watches mounted volumes, calls webhooks on the pod's loopback,
# signals processes of a pod with a shared process namespace, runs commands. No TLS, no CA bundle.
FROM scratch AS reload
COPY target/x86_64-unknown-linux-musl/release/podkit-reload /podkit-reload
USER 65532:65532
ENTRYPOINT ["/podkit-reload"]

# The adapter sidecar: reads StatsD from the app on the pod's network, follows its logs on a shared
# volume, fetches its JSON endpoints, serves /metrics on 9102. Its only outgoing connections are
# plain-http:// --json fetches, so no CA bundle.
FROM scratch AS metrics
COPY target/x86_64-unknown-linux-musl/release/podkit-metrics /podkit-metrics
USER 65532:65532
EXPOSE 9102
ENTRYPOINT ["/podkit-metrics"]

# The git-clone initializer and sync sidecar: fetches over https (so the CA bundle), http and
# git://; writes into the volume at --root, which must be writable by its user (fsGroup).
# /git, empty and owned by that user, is a mount point for --root=/git: Docker gives a new named
# volume mounted there the directory's owner and mode, so `-v site:/git` is writable as
# 65532 with no chown (in Kubernetes, fsGroup does it for the volume, and /git is not needed).
FROM scratch AS git
COPY target/image-root/etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --chown=65532:65532 target/image-root/git/ /git/
COPY target/x86_64-unknown-linux-musl/release/podkit-git /podkit-git
USER 65532:65532
ENTRYPOINT ["/podkit-git"]
