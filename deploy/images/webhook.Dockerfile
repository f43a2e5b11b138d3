# syntax=docker/dockerfile:1
# armorgate-webhook image. Build from the repository root:
#   docker build -f deploy/images/webhook.Dockerfile -t ghcr.io/armorgate/armorgate-webhook:0.1.0 .
# Base pinned by exact dated tag; for a release, pin the digest too
# (debian:bookworm-20251229-slim@sha256:...), e.g. with `crane digest`.
ARG BASE=debian:bookworm-20251229-slim

FROM ${BASE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libmicrohttpd-dev libgnutls28-dev libssl-dev libcjson-dev \
      libcurl4-openssl-dev libyaml-dev libapparmor-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The same CMake target the repository builds (tests off: no Criterion here).
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DARMORGATE_TESTS=OFF -DARMORGATE_TOOLS=OFF \
 && cmake --build /build --target armorgate-webhook \
 && strip --strip-debug -o /armorgate-webhook /build/webhook/armorgate-webhook

FROM ${BASE}
# Runtime libraries: exactly the packages of the binary's DT_NEEDED entries
# (checked by test/deploy/image_deps_test.sh against ldd + dpkg -S), plus
# apparmor: the webhook compile-checks every submitted profile with
# apparmor_parser -Q -K (no kernel, no cache), which needs the parser, the
# /etc/apparmor.d tunables/abstractions/abi that profiles include,
# /etc/apparmor/parser.conf and the feature ABI it names
# (/usr/share/apparmor-features).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libmicrohttpd12 \
      libgnutls30 \
      libcjson1 \
      libcurl4 \
      libyaml-0-2 \
      libssl3 \
      libapparmor1 \
      apparmor \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /armorgate-webhook /usr/bin/armorgate-webhook
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="armorgate-webhook" \
      org.opencontainers.image.description="armorgate fail-closed AppArmor admission webhook" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/armorgate/armorgate" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-20251229-slim"
# Non-root (matches runAsUser 65532 in the manifests); the only writes are
# apparmor_parser's input files, in $TMPDIR (default /tmp: an emptyDir in
# the manifests, whose root filesystem is read-only).
USER 65532:65532
EXPOSE 8443 8081
ENTRYPOINT ["/usr/bin/armorgate-webhook"]
