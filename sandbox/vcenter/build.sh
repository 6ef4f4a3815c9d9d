#!/usr/bin/env bash
# Build the vCenter sandbox binary (govmomi 0.24 simulator from Debian's
# packages + our overlay files + our main package) in GOPATH mode.
#
#   sandbox/vcenter/build.sh [--force]
#
# Idempotent: installs golang-go, golang-github-vmware-govmomi-dev and
# qemu-utils with apt-get only when missing (apt-get update first), and skips
# the build when the binary is newer than every Go source (ours and the
# library's) and the installed package versions did not change.
# Prints the binary path on stdout (build logs go to stderr).
#
# Environment: VCSIM_CACHE_DIR (default <repo>/var/vcsim, git-ignored),
#              VCSIM_FORCE_BUILD=1 (same as --force).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${VCSIM_CACHE_DIR:-$REPO/var/vcsim}
BIN=$CACHE/vcsim-sandbox
GOCODE=/usr/share/gocode
GOVMOMI=$GOCODE/src/github.com/vmware/govmomi
SIMDIR=$GOVMOMI/simulator
PACKAGES=(golang-go golang-github-vmware-govmomi-dev qemu-utils)
FORCE=${VCSIM_FORCE_BUILD:-0}
[ "${1:-}" = "--force" ] && FORCE=1

log() { echo "build.sh: $*" >&2; }

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for p in "${PACKAGES[@]}"; do
    installed "$p" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing missing packages: ${missing[*]}"
    SUDO=()
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            SUDO=(sudo -n)
        else
            log "not root and no passwordless sudo: please run: apt-get install ${missing[*]}"
            exit 1
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update >&2
    "${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >&2
fi

stamp_value() {
    dpkg-query -W -f='${Package}=${Version}\n' "${PACKAGES[@]}" 2>/dev/null
    go version 2>/dev/null || true
    # the source file list, so that deleting a file also triggers a rebuild
    (cd "$HERE/go" && ls overlay/*.go cmd/vcsim-sandbox/*.go)
}

up_to_date() {
    [ "$FORCE" = 1 ] && return 1
    [ -x "$BIN" ] && [ -f "$BIN.stamp" ] || return 1
    [ "$(cat "$BIN.stamp")" = "$(stamp_value)" ] || return 1
    # any Go source (ours, build.sh, or the library's) newer than the binary?
    [ -z "$(find "$HERE/go" "$HERE/build.sh" "$GOVMOMI" -newer "$BIN" \
        \( -name '*.go' -o -name build.sh \) -print -quit 2>/dev/null)" ]
}

if up_to_date; then
    echo "$BIN"
    exit 0
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.build.lock"
flock 9
if up_to_date; then # somebody else built it while we waited
    echo "$BIN"
    exit 0
fi

# Overlay: map NEW file names inside the simulator package to our files.
# (The library's own files are never copied or modified.)
overlay=$CACHE/overlay.json
{
    printf '{"Replace": {'
    sep=""
    for f in "$HERE"/go/overlay/*.go; do
        printf '%s"%s": "%s"' "$sep" "$SIMDIR/zz_$(basename "$f")" "$f"
        sep=", "
    done
    printf '}}\n'
} >"$overlay"

log "building $BIN"
start=$(date +%s%N)
tmp="$BIN.tmp.$$"
(
    cd "$HERE/go/cmd/vcsim-sandbox"
    GO111MODULE=off GOPATH="$GOCODE" GOCACHE="$CACHE/gocache" GOFLAGS= CGO_ENABLED=0 \
        go build -overlay "$overlay" -o "$tmp" .
)
mv -f "$tmp" "$BIN"
stamp_value >"$BIN.stamp"
ms=$((($(date +%s%N) - start) / 1000000))
log "built in $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s"
echo "$BIN"
