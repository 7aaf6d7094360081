#!/usr/bin/env bash
# Builds FAISS from Debian's own source package, of the version of the
# installed libfaiss-dev, as two shared libraries with one soname:
#   <root>/lib/libfaiss.so                          baseline x86-64 (generic)
#   <root>/lib/glibc-hwcaps/x86-64-v3/libfaiss.so   AVX2, FMA, F16C, POPCNT
# glibc (2.33+) loads the second on a CPU with AVX2 and the first elsewhere;
# <root>/include holds the headers. Prints <root> on stdout, logs on stderr.
#
# The result is cached outside the repository and rebuilt only when the
# version or this script (which holds the flags) changes:
#   $FRB_FAISS_CACHE, else /var/cache/faiss-rebuild as root, else
#   ${XDG_CACHE_HOME:-~/.cache}/faiss-rebuild
# Called by `bash run` (demo, test, build); FRB_FAISS_ROOT=<root> for CMake.
set -euo pipefail

GENERIC_FLAGS="-O3"
AVX2_FLAGS="-O3 -mavx2 -mfma -mf16c -mpopcnt"
# Debian's own configuration (debian/rules), without Python, C API and tests.
CMAKE_FLAGS=(-DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON -DFAISS_ENABLE_GPU=OFF
  -DFAISS_ENABLE_PYTHON=OFF -DFAISS_ENABLE_C_API=OFF -DBUILD_TESTING=OFF -DFAISS_OPT_LEVEL=generic)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() {
  printf 'build-faiss: %s\n' "$1" >&2
  shift
  printf '  %s\n' "$@" >&2
  exit 1
}

version=$(dpkg-query -W -f='${source:Version}' libfaiss-dev 2>/dev/null) ||
  die "libfaiss-dev is not installed; its version decides which FAISS source is built." \
    "fix: sudo apt-get install libfaiss-dev"
[ -n "$version" ] || die "dpkg-query gave no source version for libfaiss-dev"
key=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-12)
if [ -n "${FRB_FAISS_CACHE:-}" ]; then
  base=$FRB_FAISS_CACHE
elif [ "$(id -u)" -eq 0 ]; then
  base=/var/cache/faiss-rebuild
else
  base=${XDG_CACHE_HOME:-$HOME/.cache}/faiss-rebuild
fi
root=$base/faiss-${version//:/_}-$key
done_mark=$root/.complete

[ -f "$done_mark" ] && { echo "$root"; exit 0; }

mkdir -p "$base" || die "cannot create the cache directory $base" \
  "fix: set FRB_FAISS_CACHE to a writable directory"
# One build at a time (two `bash run` at once wait for each other).
exec 9>"$base/.lock"
flock 9
[ -f "$done_mark" ] && { echo "$root"; exit 0; }

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
work=$(mktemp -d "$base/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT

# apt-get source needs a deb-src entry; add Debian's own (apt checks the
# signed Sources index and the .dsc checksums) when none serves the package.
if ! apt-get source --print-uris -qq "faiss=$version" 2>/dev/null | grep -q '\.dsc'; then
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [ -n "$codename" ] || die "no VERSION_CODENAME in /etc/os-release: cannot name the Debian suite" \
    "fix: add a deb-src entry for the faiss source package, then run again"
  list=/etc/apt/sources.list.d/faiss-rebuild-deb-src.sources
  log "adding $list (deb-src of $codename) for faiss $version"
  printf '%s\n' "Types: deb-src" "URIs: http://deb.debian.org/debian" \
    "Suites: $codename $codename-updates" "Components: main" \
    "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" | $sudo tee "$list" >/dev/null
  $sudo apt-get update -qq
fi
log "fetching Debian's faiss source $version"
(cd "$work" && apt-get source -qq --only-source "faiss=$version" >"$work/source.log" 2>&1) ||
  die "apt-get source faiss=$version failed (log below)" "$(cat "$work/source.log")" \
    "fix: check the network and the deb-src entry (apt-cache showsrc faiss), then run again"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'faiss-*' | head -1)
[ -n "$src" ] || die "apt-get source left no faiss-* directory in $work"

stage=$work/out
mkdir -p "$stage/lib/glibc-hwcaps/x86-64-v3" "$stage/include"
for variant in generic avx2; do
  flags=$GENERIC_FLAGS
  [ "$variant" = avx2 ] && flags=$AVX2_FLAGS
  log "building libfaiss $version ($variant: $flags) with $(nproc) jobs"
  start=$SECONDS
  if ! { cmake -S "$src" -B "$work/build-$variant" "${CMAKE_FLAGS[@]}" -DCMAKE_CXX_FLAGS="$flags" &&
    nice -n 10 cmake --build "$work/build-$variant" --target faiss -j"$(nproc)"; } \
    >"$work/$variant.log" 2>&1; then
    tail -30 "$work/$variant.log" >&2
    die "building FAISS ($variant) failed; the end of the log is above" \
      "fix: install the build dependencies (sudo apt-get build-dep faiss), then run again"
  fi
  log "libfaiss ($variant) built in $((SECONDS - start)) s"
done
cp "$work/build-generic/faiss/libfaiss.so" "$stage/lib/"
cp "$work/build-avx2/faiss/libfaiss.so" "$stage/lib/glibc-hwcaps/x86-64-v3/"
(cd "$src" && find faiss -name '*.h' -not -path 'faiss/gpu/*' -not -path 'faiss/python/*' \
  -exec cp --parents {} "$stage/include/" \;)
printf 'faiss %s\ngeneric: %s\navx2: %s\n' "$version" "$GENERIC_FLAGS" "$AVX2_FLAGS" >"$stage/BUILD-INFO"
rm -rf "$root"
mv "$stage" "$root"
touch "$done_mark"
log "FAISS $version cached in $root"
echo "$root"
