#!/usr/bin/env bash
# Installs every system package lmech needs, with apt-get (Debian 12). Idempotent: packages that are
# already installed are skipped, and when nothing is missing apt is not touched at all.
#   scripts/install-deps.sh          build, test and demo dependencies
#   scripts/install-deps.sh --bench  also the PyTorch peer used by bench/ and tests/fixtures/ scripts
set -euo pipefail

pkgs=(
    build-essential cmake pkg-config make
    clang clang-format libclang-rt-14-dev  # libFuzzer targets, sanitizer runtime, format check
    libopenblas-dev liblapacke-dev          # BLAS / LAPACK (OpenBLAS pthread)
    libsqlite3-dev zlib1g-dev libjansson-dev libgsl-dev
    sqlite3                                 # the sqlite3 shell: the CLI tests query run databases
    libcriterion-dev                        # unit tests
    gnuplot-nox                             # figures (run as a separate program)
    openmpi-bin libopenmpi-dev              # distributed sweeps (later capability)
    dataset-fashion-mnist                   # real data: /usr/share/datasets/fashion-mnist
    python3 python3-numpy                   # contract checker; the CLI tests write .npy inputs
                                            # with numpy (no torch needed)
    chromium                                # the report's test in a real (headless) browser
    # Python (issue 17): the package's tests (pytest) and its `pip install ./python` into a venv,
    # offline, with the system numpy (python3 -m venv --system-site-packages)
    python3-pytest python3-venv python3-pip python3-setuptools python3-wheel
    python3-pandas                          # Runs.metrics(as_frame=True): its DataFrame path is tested
)
if [ "${1:-}" = "--bench" ]; then
    pkgs+=(python3-torch python3-scipy)
fi

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#pkgs[@]} packages present"
    exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
