#!/usr/bin/env bash
# fuzz-campaign.sh: the long fuzz campaign (outside `make test`; docs/reliability.md).
#
# Runs each libFuzzer target of build-fuzz/ (make fuzz-build, or
# `CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Release -DLM_FUZZ=ON`) one after another
# for -runs=N executions, seeded from tests/fuzz/corpus/<name>/, and records per target: the
# executions actually done, exec/s, the coverage (libFuzzer's cov/ft), the new corpus entries
# and the crashes (crash-*, leak-*, timeout-*, oom-* files), in OUT/summary.tsv.
#
#   scripts/fuzz-campaign.sh [-n RUNS] [-t SECONDS] [-b BUILD] [-o OUT] [TARGET ...]
#
#   -n RUNS     executions per target (default 10000000)
#   -t SECONDS  also stop a target after this many seconds (default 0: no time limit)
#   -b BUILD    the fuzz build directory (default build-fuzz)
#   -o OUT      where the logs, new corpora and crash artifacts go (default BUILD/campaign)
#   TARGET      names (idx, npy, safetensors, config, expfile, cli); default all of them
#
# New corpus entries land in OUT/<name>/corpus; to commit a few, minimise them against the seeds:
#   mkdir fresh && build-fuzz/tests/fuzz/fuzz_<name> -merge=1 fresh tests/fuzz/corpus/<name> \
#       OUT/<name>/corpus     (fresh/ then holds only inputs that add coverage to the seeds)
# Exit status: 1 when any target crashed, else 0.
set -u
runs=10000000
limit=0
build=build-fuzz
out=
while getopts "n:t:b:o:" opt; do
    case $opt in
    n) runs=$OPTARG ;;
    t) limit=$OPTARG ;;
    b) build=$OPTARG ;;
    o) out=$OPTARG ;;
    *) sed -n '2,20p' "$0" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
root=$(cd "$(dirname "$0")/.." && pwd)
out=${out:-$build/campaign}
mkdir -p "$out"
if [ $# -gt 0 ]; then
    targets=("$@")
else
    targets=()
    for f in "$build"/tests/fuzz/fuzz_*; do
        case $f in *_replay) continue ;; esac
        [ -x "$f" ] && targets+=("$(basename "$f" | sed 's/^fuzz_//')")
    done
fi
if [ ${#targets[@]} -eq 0 ]; then
    echo "fuzz-campaign: no fuzz targets in $build/tests/fuzz (make fuzz-build)" >&2
    exit 2
fi
summary=$out/summary.tsv
[ -f "$summary" ] || printf 'target\truns_asked\truns_done\tseconds\texec_per_s\tcov\tft\tnew_units\tcrashes\tpeak_rss_mb\tstarted_utc\n' >"$summary"
status=0
for name in "${targets[@]}"; do
    bin=$build/tests/fuzz/fuzz_$name
    seeds=$root/tests/fuzz/corpus/$name
    if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
        echo "fuzz-campaign: no target $bin or no seeds $seeds" >&2
        status=1
        continue
    fi
    dir=$out/$name
    mkdir -p "$dir/corpus" "$dir/artifacts"
    log=$dir/log.txt
    started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    t0=$(date +%s)
    echo "fuzz-campaign: $name: -runs=$runs -max_total_time=$limit from $started" >&2
    # -close_fd_mask=3: the target's own stdout/stderr are closed (the CLI parser prints a usage
    # error for nearly every input); libFuzzer's report still reaches the log
    "$bin" -runs="$runs" -max_total_time="$limit" -rss_limit_mb=2048 -timeout=25 \
        -close_fd_mask=3 -print_final_stats=1 -artifact_prefix="$dir/artifacts/" \
        "$dir/corpus" "$seeds" >"$log" 2>&1
    rc=$?
    secs=$(($(date +%s) - t0))
    done_runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    new=$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    crashes=$(find "$dir/artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
    [ -n "$done_runs" ] || done_runs=$(echo "$last" | sed -n 's/^#\([0-9]*\).*/\1/p')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$runs" "${done_runs:-?}" "$secs" \
        "${eps:-?}" "${cov:-?}" "${ft:-?}" "${new:-?}" "$crashes" "${rss:-?}" "$started" >>"$summary"
    if [ $rc -ne 0 ] || [ "$crashes" -gt 0 ]; then
        echo "fuzz-campaign: $name FAILED (exit $rc, $crashes artifacts in $dir/artifacts; log $log)" >&2
        status=1
    fi
done
column -t -s "$(printf '\t')" "$summary" >&2 || cat "$summary" >&2
exit $status
