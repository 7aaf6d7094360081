#!/usr/bin/env bash
# Builds FAISS's SWIG Python bindings from Debian's own faiss source (the
# version of the installed libfaiss-dev, the same source .ci/build-faiss.sh
# builds) with AVX2 flags, for /usr/bin/python3: the peer a pip user would
# run. The module links the libfaiss that .ci/build-faiss.sh caches and finds
# it through RUNPATH <faiss-root>/lib, where the loader picks the AVX2 build
# (glibc-hwcaps/x86-64-v3) exactly as it does for the project's programs.
#
# Result, cached next to the FAISS cache and built once per FAISS build,
# Python version and version of this script:
#   <faiss-root>-python<X.Y>-<key>/faiss/   (the package FAISS's setup.py lays out)
# Prints that directory (the one to put on PYTHONPATH) on stdout, logs on stderr.
# Needs swig and python3-numpy, python3-dev (installed with apt when missing).
set -euo pipefail

FLAGS="-O3 -mavx2 -mfma -mf16c -mpopcnt"
PYTHON=/usr/bin/python3
JOBS=${FRB_FAISS_JOBS:-2}

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() {
  printf 'build-faiss-python: %s\n' "$1" >&2
  shift
  printf '  %s\n' "$@" >&2
  exit 1
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
faiss_root=$(bash "$here/build-faiss.sh") || die "building or finding the cached libfaiss failed"
[ -f "$faiss_root/lib/glibc-hwcaps/x86-64-v3/libfaiss.so" ] ||
  die "no AVX2 libfaiss in $faiss_root/lib/glibc-hwcaps/x86-64-v3"
version=$(dpkg-query -W -f='${source:Version}' libfaiss-dev)
pyver=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])') ||
  die "$PYTHON does not run" "fix: sudo apt-get install python3"
key=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-12)
out=$faiss_root-python$pyver-$key
done_mark=$out/.complete

[ -f "$done_mark" ] && { echo "$out"; exit 0; }

base=$(dirname "$faiss_root")
exec 9>"$base/.python.lock"
flock 9
[ -f "$done_mark" ] && { echo "$out"; exit 0; }

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
missing=()
command -v swig >/dev/null || missing+=(swig)
for p in python3-numpy python3-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2 ||
    die "apt-get install ${missing[*]} failed"
fi

work=$(mktemp -d "$base/.work-python.XXXXXX")
trap 'rm -rf "$work"' EXIT
log "fetching Debian's faiss source $version"
(cd "$work" && apt-get source -qq --only-source "faiss=$version" >"$work/source.log" 2>&1) ||
  die "apt-get source faiss=$version failed (log below)" "$(cat "$work/source.log")" \
    "fix: run .ci/build-faiss.sh once (it adds the deb-src entry), then run again"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'faiss-*' | head -1)
[ -n "$src" ] || die "apt-get source left no faiss-* directory in $work"

# FAISS's python/CMakeLists.txt uses the `faiss` target when one exists; this
# top level makes it the cached shared library instead of building libfaiss a
# third time. Linking the generic file (same soname and symbols) makes CMake's
# build RUNPATH <faiss-root>/lib, so the loader chooses the kernels there.
mkdir -p "$work/top"
cat >"$work/top/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.17)
project(frb_pyfaiss LANGUAGES CXX)
add_library(faiss SHARED IMPORTED)
set_target_properties(faiss PROPERTIES
  IMPORTED_LOCATION "$faiss_root/lib/libfaiss.so"
  INTERFACE_INCLUDE_DIRECTORIES "$faiss_root/include")
add_subdirectory("$src/faiss/python" python)
EOF

log "building FAISS $version Python bindings ($FLAGS) for $PYTHON $pyver with $JOBS jobs"
start=$SECONDS
if ! { cmake -S "$work/top" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS="$FLAGS" -DPython_EXECUTABLE="$PYTHON" \
  -DCMAKE_SHARED_LINKER_FLAGS="-Wl,--enable-new-dtags" &&
  nice -n 10 cmake --build "$work/build" --target swigfaiss -j"$JOBS"; } >"$work/build.log" 2>&1; then
  tail -30 "$work/build.log" >&2
  die "building the FAISS Python bindings failed; the end of the log is above"
fi
log "bindings built in $((SECONDS - start)) s"

# The package layout of FAISS's setup.py, without installing anything.
py=$work/build/python
stage=$work/out
mkdir -p "$stage/faiss"
cp -r "$py/contrib" "$stage/faiss/contrib"
for f in __init__.py loader.py class_wrappers.py gpu_wrappers.py extra_wrappers.py \
  array_conversions.py swigfaiss.py _swigfaiss.so; do
  cp "$py/$f" "$stage/faiss/$f"
done
runpath=$(objdump -p "$stage/faiss/_swigfaiss.so" | awk '$1 == "RUNPATH" {print $2}')
[ "$runpath" = "$faiss_root/lib" ] ||
  die "_swigfaiss.so has RUNPATH '$runpath', not $faiss_root/lib"
options=$(cd / && PYTHONPATH="$stage" "$PYTHON" -c \
  'import faiss; print(faiss.get_compile_options())' 2>"$work/import.log") ||
  die "importing the built module failed" "$(cat "$work/import.log")"
printf 'faiss %s python bindings\npython: %s\nflags: %s\nlibfaiss: %s\ncompile options: %s\n' \
  "$version" "$PYTHON $pyver" "$FLAGS" "$faiss_root/lib" "$options" >"$stage/BUILD-INFO"
rm -rf "$out"
mv "$stage" "$out"
touch "$done_mark"
log "FAISS $version Python bindings cached in $out ($options)"
echo "$out"
