# syntax=docker/dockerfile:1
# armorgate-agent image. Build from the repository root:
#   docker build -f deploy/images/agent.Dockerfile -t ghcr.io/armorgate/armorgate-agent:0.1.0 .
# Base pinned by exact dated tag; for a release, pin the digest too
# (debian:bookworm-20251229-slim@sha256:...), e.g. with `crane digest`.
ARG BASE=debian:bookworm-20251229-slim

FROM ${BASE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libmicrohttpd-dev libgnutls28-dev libssl-dev libcjson-dev \
      libcurl4-openssl-dev libyaml-dev libapparmor-dev zlib1g-dev
# The agent's libcurl: Debian's curl source package (apt-get source, with
# Debian's security patches) built static, HTTP(S) only, for static OpenSSL;
# the same script test/all runs (peak RSS: README "Dependencies and why").
# Its own layer, before the sources: security updates of either package come
# in with a build that does not reuse cached layers (--pull --no-cache).
COPY cmake/build-minimal-curl.sh /usr/local/bin/
RUN XDG_CACHE_HOME=/opt/cache build-minimal-curl.sh >/opt/curl-prefix \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The same CMake target the repository builds (tests off: no Criterion here).
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DARMORGATE_TESTS=OFF -DARMORGATE_TOOLS=OFF \
      -DARMORGATE_CURL_PREFIX="$(cat /opt/curl-prefix)" \
 && cmake --build /build --target armorgate-agent \
 && strip --strip-debug -o /armorgate-agent /build/agent/armorgate-agent

FROM ${BASE}
# Runtime libraries of the binary (checked by test/deploy/image_deps_test.sh
# against ldd + dpkg -S; libcurl and OpenSSL are inside it) plus apparmor:
# apparmor_parser and the /etc/apparmor.d tunables/abstractions that
# profiles include; ca-certificates for a kubeconfig that names no CA.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libcjson1 \
      libyaml-0-2 \
      zlib1g \
      libapparmor1 \
      apparmor \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /armorgate-agent /usr/bin/armorgate-agent
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="armorgate-agent" \
      org.opencontainers.image.description="armorgate node agent: loads custom.* AppArmor profiles and labels the Node" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/armorgate/armorgate" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-20251229-slim"
# Root on purpose: it writes root-owned host files (/etc/apparmor.d/armorgate)
# and loads policy with CAP_MAC_ADMIN; the DaemonSet drops every other capability.
USER 0:0
EXPOSE 8082
ENTRYPOINT ["/usr/bin/armorgate-agent"]
