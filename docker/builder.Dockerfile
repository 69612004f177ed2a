# A Swift build environment for machines that cannot pull the official swift image: a Debian base with
# the libraries Swift's Linux toolchain links against. The toolchain itself is mounted at /opt/swift
# when docker/Dockerfile is built (scripts/build-image does both).
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      binutils libc6-dev libgcc-12-dev libstdc++-12-dev libcurl4 libxml2 libedit2 libsqlite3-0 \
      libncurses6 libpython3.11 zlib1g-dev pkg-config tzdata ca-certificates \
 && rm -rf /var/lib/apt/lists/*
