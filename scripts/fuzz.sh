#!/usr/bin/env bash
# Fuzzes the parsers and decisions of crates/aiohttp that see network input: the
# cargo-fuzz targets in fuzz/ (libFuzzer, AddressSanitizer, debug assertions on), each a
# call into `aiohttp::fuzz_support`. Builds them with nightly into fuzz/target, then runs
# each target for N seconds from its seed corpus (fuzz/corpus/<target>, read only) and the
# corpus earlier runs grew (fuzz/work/corpus/<target>, kept between runs), with its
# dictionary (fuzz/dict) where it has one.
#
# Usage:
#   scripts/fuzz.sh                      every target, 10 s each
#   scripts/fuzz.sh --seconds 60         every target, 60 s each
#   scripts/fuzz.sh --jobs 2 decompress set_cookie
#                                        two targets, both at once
#
#   --seconds N   how long each target runs (default 10)
#   --jobs J      how many targets run at the same time (default 1; each is one process)
#   --sanitizer S address (default) or none: `none` builds without AddressSanitizer (the
#                 crate forbids unsafe code; ASan watches its dependencies' unsafe code) and
#                 runs about twice as many inputs per second, for long runs
#
# Every run appends a line per target to fuzz/work/ledger.tsv (date, commit, sanitizer,
# target, seconds, executions, result), so that executions can be added up across runs.
#
# Prints, per target, the executions (libFuzzer's final `stat::number_of_executed_units`)
# and executions per second. Exit status: non-zero if any target crashed, hung (30 s on
# one input), ran out of memory or did not run; the input that did it is printed
# (fuzz/artifacts/<target>/...), with the end of the target's log (fuzz/work/logs/).
# Reproduce a crash with:  fuzz/target/<host>/release/<target> <artifact>
#
# Needs rustup (a nightly toolchain is installed if missing) and cargo-fuzz (installed
# from crates.io if missing).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf 'fuzz: %s\n' "$*" >&2; }
die() {
    log "$*"
    exit 2
}

seconds=10
jobs=1
sanitizer=address
targets=()
while [[ $# -gt 0 ]]; do
    case "$1" in
    --seconds)
        [[ $# -ge 2 && "$2" =~ ^[0-9]+$ && "$2" -gt 0 ]] || die "--seconds takes a positive number"
        seconds="$2"
        shift 2
        ;;
    --jobs)
        [[ $# -ge 2 && "$2" =~ ^[0-9]+$ && "$2" -gt 0 ]] || die "--jobs takes a positive number"
        jobs="$2"
        shift 2
        ;;
    --sanitizer)
        [[ $# -ge 2 && "$2" =~ ^(address|none)$ ]] || die "--sanitizer takes address or none"
        sanitizer="$2"
        shift 2
        ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    -*) die "unknown option $1 (see --help)" ;;
    *)
        targets+=("$1")
        shift
        ;;
    esac
done

# Every target of fuzz/Cargo.toml, in file order.
mapfile -t all < <(sed -n '/^\[\[bin\]\]/,/^$/s/^name = "\(.*\)"/\1/p' fuzz/Cargo.toml)
[[ ${#all[@]} -gt 0 ]] || die "no targets found in fuzz/Cargo.toml"
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=("${all[@]}")
fi
for t in "${targets[@]}"; do
    [[ " ${all[*]} " == *" $t "* ]] || die "unknown target $t (targets: ${all[*]})"
done

# The dictionary of each target, if it has one.
dict_of() {
    case "$1" in
    response_head | response_full) echo fuzz/dict/http.dict ;;
    decompress) echo fuzz/dict/coding.dict ;;
    set_cookie) echo fuzz/dict/cookie.dict ;;
    redirect) echo fuzz/dict/redirect.dict ;;
    charset) echo fuzz/dict/charset.dict ;;
    ws_handshake) echo fuzz/dict/ws.dict ;;
    proxy_replies) echo fuzz/dict/proxy.dict ;;
    multipart) echo fuzz/dict/multipart.dict ;;
    *) ;;
    esac
}

# --- tools -------------------------------------------------------------------

# The fuzz crate has its own target dir (fuzz/target), whatever the environment says; nor
# does installing cargo-fuzz build into a shared one.
unset CARGO_TARGET_DIR

command -v rustup >/dev/null 2>&1 || die "rustup is needed (for the nightly toolchain)"
# cargo-fuzz needs nightly's -Z flags: the nightly toolchain when it is (or can be) installed,
# else the default toolchain with RUSTC_BOOTSTRAP=1, which lets it take them.
toolchain=(+nightly)
if ! rustup toolchain list | grep -q '^nightly'; then
    log "installing the nightly toolchain"
    if ! rustup toolchain install nightly --profile minimal; then
        log "no nightly toolchain: the default toolchain with RUSTC_BOOTSTRAP=1 instead"
        toolchain=()
        export RUSTC_BOOTSTRAP=1
    fi
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    log "installing cargo-fuzz from crates.io"
    cargo install cargo-fuzz --locked
fi

# --- build -------------------------------------------------------------------

host="$(rustc "${toolchain[@]}" -vV | sed -n 's/^host: //p')"
bin_dir="$ROOT/fuzz/target/$host/release"
log "building ${targets[*]} (cargo ${toolchain[*]} fuzz build)"
for t in "${targets[@]}"; do
    cargo "${toolchain[@]}" fuzz build --sanitizer "$sanitizer" "$t"
done

# --- run ---------------------------------------------------------------------

mkdir -p fuzz/work/logs
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git status --porcelain -- crates/aiohttp/src fuzz 2>/dev/null)" ]]; then
    commit="$commit+dirty"
fi
run_one() {
    local t="$1"
    local corpus="fuzz/work/corpus/$t" artifacts="fuzz/artifacts/$t/"
    local dict
    dict="$(dict_of "$t")"
    mkdir -p "$corpus" "$artifacts"
    local args=(
        "-max_total_time=$seconds"
        -print_final_stats=1
        -timeout=30
        -rss_limit_mb=4096
        "-artifact_prefix=$artifacts"
    )
    [[ -n "$dict" ]] && args+=("-dict=$dict")
    # New inputs go to the first directory; the seeds are only read.
    "$bin_dir/$t" "${args[@]}" "$corpus" "fuzz/corpus/$t" >"fuzz/work/logs/$t.log" 2>&1
}

declare -A status
running=0
for t in "${targets[@]}"; do
    if [[ "$running" -ge "$jobs" ]]; then
        wait -n || true
        running=$((running - 1))
    fi
    log "running $t for ${seconds}s"
    (
        rc=0
        run_one "$t" || rc=$?
        echo "$rc" >"fuzz/work/logs/$t.rc"
    ) &
    running=$((running + 1))
done
wait

failed=0
printf '\n| target | executions | exec/s | corpus | result |\n|---|---:|---:|---:|---|\n'
for t in "${targets[@]}"; do
    logf="fuzz/work/logs/$t.log"
    rc="$(cat "fuzz/work/logs/$t.rc" 2>/dev/null || echo 1)"
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$logf" | tail -n 1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logf" | tail -n 1)"
    units="$(find "fuzz/work/corpus/$t" -type f | wc -l)"
    result=ok
    if [[ "$rc" != 0 || -z "$execs" ]]; then
        result="FAILED (exit $rc)"
        failed=1
    fi
    printf '| %s | %s | %s | %s | %s |\n' "$t" "${execs:-?}" "${rate:-?}" "$units" "$result"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$commit" "$sanitizer" "$t" \
        "$seconds" "${execs:-0}" "$result" >>fuzz/work/ledger.tsv
done

if [[ "$failed" == 1 ]]; then
    for t in "${targets[@]}"; do
        rc="$(cat "fuzz/work/logs/$t.rc" 2>/dev/null || echo 1)"
        [[ "$rc" == 0 ]] && continue
        printf '\n==== %s failed (exit %s); log: fuzz/work/logs/%s.log ====\n' "$t" "$rc" "$t"
        grep -E 'Test unit written to|^SUMMARY|panicked at' "fuzz/work/logs/$t.log" || true
        tail -n 40 "fuzz/work/logs/$t.log"
        artifact="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "fuzz/work/logs/$t.log" | tail -n 1)"
        if [[ -n "$artifact" ]]; then
            printf 'artifact: %s\nreproduce: %s %s\n' "$artifact" "$bin_dir/$t" "$artifact"
        fi
    done
    exit 1
fi
