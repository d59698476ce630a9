#!/usr/bin/env bash
# `make test`'s last words: test-summary.sh LOG SKIP_DIR
#
# LOG is cargo test's output, SKIP_DIR holds one file per skipped test
# (written by src/system/test_skip.rs). Lists the skipped tests with their
# reasons, then prints exactly one line
#     total: N passed, M failed, K skipped
# where a skipped test is not counted as passed. Exits 1 if a test failed
# (a test binary that died without its "test result" line counts as one
# failure) or if CI=true and a test was skipped.
set -euo pipefail
log=$1
skip_dir=$2

skipped=0
if [ -d "$skip_dir" ]; then
    for file in "$skip_dir"/*; do
        [ -f "$file" ] || continue
        skipped=$((skipped + 1))
        printf 'skipped: %s' "$(cat "$file")"
        echo
    done
fi

read -r ran failed < <(awk '
    /^test result:/ { ran += $4; failed += $6; if ($3 == "FAILED.") failed_binaries++ }
    /^error: test failed, to rerun pass/ { errors++ }
    END {
        # A binary that crashed has an error line and no result line.
        if (errors > failed_binaries) failed += errors - failed_binaries
        printf "%d %d\n", ran, failed
    }' "$log")

passed=$((ran - skipped))
[ "$passed" -ge 0 ] || passed=0
echo "total: $passed passed, $failed failed, $skipped skipped"

[ "$failed" = 0 ] || exit 1
if [ "$skipped" != 0 ] && { [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; }; then
    exit 1
fi
