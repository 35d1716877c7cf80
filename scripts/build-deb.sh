#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# Build xsnap's Debian packages (debian/) and check them with lintian.
#
#   scripts/build-deb.sh [OUTDIR]     (make deb: OUTDIR is build/deb)
#
# dpkg-buildpackage writes its results beside the source tree, so the tree
# (without build outputs and .git) is copied to OUTDIR/xsnap-VERSION
# and built there: the .deb, .dsc, .tar.xz, .buildinfo and .changes files
# land in OUTDIR, and the working tree and its parent are left alone.
# lintian then checks the .changes (source and binary packages); its
# output is OUTDIR/lintian.txt, and an error fails the build.
# DEB_BUILD_OPTIONS is passed on (parallel=N, nocheck).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:-$ROOT/build/deb}
prog=${0##*/}

for t in dpkg-buildpackage dh lintian; do
	if ! command -v "$t" >/dev/null; then
		echo "$prog: $t not found: run scripts/install-deps.sh (as root)" >&2
		exit 1
	fi
done
ver=$(dpkg-parsechangelog -l "$ROOT/debian/changelog" -S Version)
src=$OUT/xsnap-$ver
# only what an earlier run made
rm -rf "$src" "$OUT"/*xsnap*_"$ver"[._]* "$OUT"/build.log "$OUT"/lintian.txt
mkdir -p "$src"
tar -C "$ROOT" --exclude=./build --exclude=./build-san --exclude=./.git -cf - . | tar -C "$src" -xf -
start=$(date +%s)
# not what a make or a test run around us exports (their build directory,
# sanitizers, jobserver)
(cd "$src" && env -u OUTPUT -u XSNAP_BUILD -u SANITIZE -u VALGRIND -u MAKEFLAGS -u MFLAGS \
	-u MAKELEVEL dpkg-buildpackage -us -uc) >"$OUT/build.log" 2>&1 || {
	tail -n 40 "$OUT/build.log" >&2
	echo "$prog: dpkg-buildpackage failed (whole log: $OUT/build.log)" >&2
	exit 1
}
echo "$prog: built in $(($(date +%s) - start)) s:" >&2
(cd "$OUT" && ls -1 ./*.deb ./*.dsc ./*.changes) >&2
changes=$(ls "$OUT"/xsnap_"$ver"_*.changes)
# lintian would rather not run as root: as nobody when nobody can read them
as=()
if ((EUID == 0)) && setpriv --reuid=65534 --regid=65534 --clear-groups test -r "$changes" 2>/dev/null; then
	as=(setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp)
fi
rc=0
"${as[@]}" lintian --info --display-info --pedantic --fail-on error "$changes" >"$OUT/lintian.txt" 2>&1 ||
	rc=$?
if [[ -s $OUT/lintian.txt ]]; then
	echo "$prog: lintian:" >&2
	sed 's/^/  /' "$OUT/lintian.txt" >&2
else
	echo "$prog: lintian: no tag" >&2
fi
if ((rc)); then
	echo "$prog: lintian found errors (exit $rc)" >&2
	exit 1
fi
