#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# Check that libxsnap exports exactly what the version map lists and that
# every exported function is declared (and so documented) in xsnap.h.
# Usage: scripts/check-abi.sh LIB.so LIB.map HEADER
set -euo pipefail
so=$1 map=$2 hdr=$3
exported=$(nm -D --defined-only "$so" | awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }' | sort -u)
listed=$(sed -n 's/^[[:space:]]*\(xsnap_[a-z0-9_]*\);.*/\1/p' "$map" | sort -u)
rc=0
if [ "$exported" != "$listed" ]; then
	echo "check-abi: exports and $map differ (< exported, > listed):"
	diff <(echo "$exported") <(echo "$listed") || true
	rc=1
fi
for f in $exported; do
	if ! grep -q "[ *]$f(" "$hdr"; then
		echo "check-abi: $f is exported but not declared in $hdr"
		rc=1
	fi
done
[ $rc -eq 0 ] && echo "check-abi: $(echo "$exported" | wc -l) exported symbols match $map and $hdr"
exit $rc
