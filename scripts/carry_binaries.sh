#!/usr/bin/env bash
# Builds the CUDA tree here (same CUDA 13.0 as the GPU host) and puts stripped copies of the
# binaries the host runs into build-carry/ (git-ignored), so a device call spends no time
# building: carry [".dev/rtdebs", ".dev/shared", "build-carry"] and run
#   BUILD=build-carry DEBS_DIR=.dev/rtdebs STAGES="gtest bench" bash scripts/gpu_host.sh
# (the test binaries find their fixtures under this checkout's absolute path, recorded in
# build-carry/SRC_BUILT; gpu_host.sh links that path to the host's copy of the tree).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/cuda/bin:$PATH CCACHE_BASEDIR=$PWD
KILN_CUDA=ON BUILD_DIR=build-cuda bash scripts/build.sh
# CARRY_DIR / CARRY_BINS: another folder and binaries, e.g. a branch's kiln alone in
# build-carry2 for an A/B across builds (bench/ab_gpu.sh: KILN_BIN=build-carry2/kiln in a variant).
dest=${CARRY_DIR:-build-carry}
bins=${CARRY_BINS:-kiln kiln_gpu_tests kiln_gpu_model_tests}
mkdir -p "$dest"
for b in $bins; do
  cp -f "build-cuda/$b" "$dest/"
  strip "$dest/$b"
done
echo "$PWD" > "$dest/SRC_BUILT"  # gpu_host.sh links this path to the host's tree
du -sh "$dest"
