#!/usr/bin/env bash
# Fuzz smoke run for CI: installs cargo-fuzz if missing, builds every fuzz target once, then runs
# each for N seconds from the checked-in seeds (every target `cargo fuzz list` names: parse_request,
# chunked, route, template, vtl). Exits non-zero if any target crashes, fails an
# assertion, hangs past FUZZ_TIMEOUT_S on one input, or does not build.
#
#   dataplane/fuzz/smoke.sh [SECONDS_PER_TARGET]      (default 20; or FUZZ_SECONDS)
#
# The toolchain is stable: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z sanitizer flags.
# Cold cost on 2 cores (install + build + 3 x 20 s runs): see dataplane/fuzz/README.md.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-${FUZZ_SECONDS:-20}}"
timeout_s="${FUZZ_TIMEOUT_S:-10}"
cargo_fuzz_version="${CARGO_FUZZ_VERSION:-0.13.2}"
export RUSTC_BOOTSTRAP=1
# A smoke run is bounded by its build on 2 cores: opt-level 1 builds the 150-odd instrumented
# crates about 40 s sooner than 3, and 10 s of fuzzing still runs tens of thousands of inputs.
# FUZZ_OPT_LEVEL=3 for long campaigns.
export CARGO_PROFILE_RELEASE_OPT_LEVEL="${FUZZ_OPT_LEVEL:-1}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz $cargo_fuzz_version"
  cargo install cargo-fuzz --locked --version "$cargo_fuzz_version"
fi
cargo fuzz --version

echo "== building fuzz targets"
cargo fuzz build

failed=()
for target in $(cargo fuzz list); do
  echo "== fuzzing $target for ${seconds}s"
  # The first corpus dir collects new inputs (gitignored); seeds/ is read only.
  mkdir -p "corpus/$target" "artifacts/$target"
  args=(-max_total_time="$seconds" -timeout="$timeout_s" -print_final_stats=1)
  if [[ -f "dict/$target.dict" ]]; then
    args+=(-dict="dict/$target.dict")
  fi
  corpora=("corpus/$target")
  if [[ -d "seeds/$target" ]]; then
    corpora+=("seeds/$target")
  fi
  if ! cargo fuzz run "$target" "${corpora[@]}" -- "${args[@]}"; then
    failed+=("$target")
    for crash in "artifacts/$target"/*; do
      [[ -f "$crash" ]] || continue
      echo "-- $target: $crash (hex):"
      od -An -tx1 -v "$crash" | tr -d ' \n' | head -c 4096
      echo
    done
  fi
done

if ((${#failed[@]})); then
  echo "fuzz smoke FAILED: ${failed[*]} (inputs in dataplane/fuzz/artifacts/; reproduce with" \
    "RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET artifacts/TARGET/FILE)"
  exit 1
fi
echo "fuzz smoke passed: $(cargo fuzz list | tr '\n' ' ')(${seconds}s each)"
