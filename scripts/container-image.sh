#!/usr/bin/env bash
# Builds the Gatehouse container image with podman on a machine that has no image registry:
#   scripts/container-image.sh setup   install podman (Debian packages) and configure it, when missing
#   scripts/container-image.sh base    make the stand-in node:24-slim base image locally (debootstrap)
#   scripts/container-image.sh build   build the Dockerfile on that base as $GATEHOUSE_IMAGE
#   scripts/container-image.sh all     the three, in order (what .ci/run does)
#   scripts/container-image.sh clean   remove the built image (vfs storage copies every layer)
#
# A user's build needs none of this: `docker build .` uses node:24-slim from Docker Hub. Here the
# Dockerfile's NODE_IMAGE argument points at a base made from Debian's packages, the Node.js 24
# binary of the `node` devDependency, npm from the npm registry and this host's CA bundle (the
# registry is reached through a TLS-intercepting proxy whose CA only the host trusts).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE="${GATEHOUSE_IMAGE:-localhost/gatehouse:ci}"
BASE="${GATEHOUSE_BASE_IMAGE:-localhost/node:24-slim}"

log() { echo "container-image: $*" >&2; }

setup() {
  if ! command -v podman >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
    if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
      log "podman is missing and cannot be installed here (needs root and apt-get); install podman, buildah, runc and debootstrap"
      return 1
    fi
    log "installing podman, buildah, runc and debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman buildah runc debootstrap >/dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman buildah runc debootstrap >/dev/null; }
  fi
  # vfs storage and runc with cgroupfs: what works inside an unprivileged build machine
  # (overlay and crun fail on its kernel and cgroups). Existing configuration is kept.
  mkdir -p /etc/containers
  if [[ ! -f /etc/containers/storage.conf ]]; then
    cat > /etc/containers/storage.conf <<'CONF'
[storage]
driver = "vfs"
runroot = "/run/containers/storage"
graphroot = "/var/lib/containers/storage"
CONF
  fi
  if [[ ! -f /etc/containers/containers.conf ]]; then
    cat > /etc/containers/containers.conf <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
CONF
  fi
  podman info --format '{{.Store.GraphDriverName}}' >/dev/null
}

base() {
  if podman image exists "$BASE"; then
    log "$BASE exists"
    return 0
  fi
  local node_bin="node_modules/node/bin/node"
  [[ -x "$node_bin" ]] || { log "$node_bin is missing: run npm ci first"; return 1; }
  local work
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' RETURN
  local mirror
  # The Debian mirror apt already uses (deb822 "URIs:" or one-line "deb" sources).
  mirror="$(grep -rhE '^(URIs:|deb) ' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
    | grep -oE 'https?://[^ ]+/debian/?$' | head -n1 || true)"
  log "debootstrap bookworm from ${mirror:-http://deb.debian.org/debian} (about 2 minutes)"
  debootstrap --variant=minbase bookworm "$work/rootfs" "${mirror:-http://deb.debian.org/debian}" >/dev/null
  rm -rf "$work/rootfs/var/cache/apt/archives"/*.deb "$work/rootfs/var/lib/apt/lists"/*
  tar -C "$work/rootfs" -c . | podman import - localhost/debian:bookworm-minbase >/dev/null

  mkdir -p "$work/ctx/npm"
  cp "$node_bin" "$work/ctx/node"
  (cd "$work" && npm pack --silent npm@11 >/dev/null && tar -xzf npm-*.tgz -C ctx/npm --strip-components=1)
  cp /etc/ssl/certs/ca-certificates.crt "$work/ctx/ca-certificates.crt"
  cat > "$work/ctx/Containerfile" <<'CONF'
FROM localhost/debian:bookworm-minbase
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
CMD ["node"]
CONF
  podman build -q -t "$BASE" "$work/ctx" >/dev/null
  podman rmi localhost/debian:bookworm-minbase >/dev/null
  log "made $BASE"
}

build() {
  log "building $IMAGE on $BASE"
  # --layers=false keeps no intermediate images (with vfs each is a full copy), so nothing
  # needs pruning afterwards: a prune would also remove other builds' images on a shared host.
  local previous
  previous="$(podman image inspect "$IMAGE" --format '{{.Id}}' 2>/dev/null || true)"
  podman build -q --layers=false --build-arg "NODE_IMAGE=$BASE" -t "$IMAGE" . >/dev/null
  # The image this build replaced, now untagged: remove it (only ours, never a prune).
  if [[ -n "$previous" && "$previous" != "$(podman image inspect "$IMAGE" --format '{{.Id}}')" ]]; then
    podman rmi "$previous" >/dev/null 2>&1 || true
  fi
  log "built $IMAGE: $(podman image inspect "$IMAGE" --format '{{.Size}}') bytes"
}

clean() {
  podman rmi -f "$IMAGE" >/dev/null 2>&1 || true
}

case "${1:-all}" in
  setup) setup ;;
  base) base ;;
  build) build ;;
  clean) clean ;;
  all) setup && base && build ;;
  *) log "usage: $0 setup|base|build|all|clean"; exit 2 ;;
esac
