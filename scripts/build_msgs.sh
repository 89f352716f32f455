#!/usr/bin/env bash
# Build the competency_cf_msgs interface package with plain cmake and install it into a Python
# venv (no colcon, nothing to source): `scripts/build_msgs.sh .venv`. The rosidl generator wheels
# come from requirements.txt. In a ROS 2 workspace, colcon builds the same package instead.
set -euo pipefail

venv=$(cd "${1:?usage: build_msgs.sh VENV}" && pwd)
source_dir=$(cd "$(dirname "$0")/../competency_cf_msgs" && pwd)
build_dir="$venv/build/competency_cf_msgs"
python="$venv/bin/python"

# The generator wheels were built elsewhere and name that machine's Python and numpy include
# directories in their exported CMake targets; point them at this venv's (idempotent).
python_include=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
numpy_include=$("$python" -c 'import numpy; print(numpy.get_include())')
grep -rlE "include/python3|numpy/_core/include" "$venv/share" --include="*Export.cmake" \
  | xargs -r sed -i -E \
      -e "s#[^;\"]*/include/python3\.[0-9]+#$python_include#g" \
      -e "s#[^;\"]*/site-packages/numpy/_core/include#$numpy_include#g"

mkdir -p "$build_dir"
export PATH="$venv/bin:$PATH"
cmake -S "$source_dir" -B "$build_dir" -DCMAKE_INSTALL_PREFIX="$venv" \
  -DCMAKE_PREFIX_PATH="$venv" -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$python" \
  -DCMAKE_BUILD_TYPE=Release > "$build_dir/configure.log" \
  || { cat "$build_dir/configure.log"; exit 1; }
cmake --build "$build_dir" -j 2 > "$build_dir/build.log" || { tail -50 "$build_dir/build.log"; exit 1; }
cmake --install "$build_dir" > "$build_dir/install.log"
"$python" -c "from competency_cf_msgs.msg import Competency, Counterfactual, Explanation, ScenarioEvent"
echo "competency_cf_msgs installed into $venv"
