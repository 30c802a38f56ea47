# shellcheck shell=bash
# tests/cli/lib/common.bash: the start every CLI test script shares (not a test itself: CTest
# registers tests/cli/*.sh only). Source it first, with the script's arguments:
#   . "$(dirname "$0")/lib/common.bash" "$@"
# It sets LM (the lmech binary: the script's first argument), T (a temporary directory, removed
# on exit), PY (Debian's python3, the one with numpy and torch), the ok/bad reporters with a
# failure count, and:
#   need_fmnist   exits 77 (CTest's skip) when Fashion-MNIST is not installed
#   expect_fail NAME SUBSTRING CMD...
#                 CMD must fail with an exit code below 128 (no crash) and a message on stderr
#                 containing SUBSTRING
#   finish        prints the count of failed checks; exits non-zero if there was one
set -uo pipefail
LM=${1:?usage: $(basename "$0") path/to/lmech}
T=$(mktemp -d "/tmp/lmech-$(basename "$0" .sh)-XXXXXX")
trap 'rm -rf "$T"' EXIT
PY=/usr/bin/python3
fails=0
ok() { echo "ok    $1"; }
bad() {
    echo "FAIL  $1: $2"
    fails=$((fails + 1))
}
need_fmnist() {
    [ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || {
        echo "skip: fashion-mnist not installed"
        exit 77
    }
}
expect_fail() {
    local name=$1 want=$2
    shift 2
    "$@" >"$T/expect_fail.out" 2>"$T/expect_fail.err"
    local rc=$?
    if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q -- "$want" "$T/expect_fail.err"; then
        ok "$name"
    else
        bad "$name" "rc=$rc $(head -c 300 "$T/expect_fail.err")"
    fi
}
finish() {
    echo "$fails failed"
    [ "$fails" -eq 0 ]
}
