#!/usr/bin/env bash
# Side-by-side peer benchmark: Fluent Bit tails an Apache combined log from the
# head, parses it with its stock `apache2` regex parser and ships it with the
# `http` output (gzip) to a loopback HTTP receiver (./receiver) that counts records.
#
# It never builds or downloads Fluent Bit: it runs the `fluent-bit` found on
# PATH, or $FLUENT_BIT. See README.md beside this file.
#
# Usage:
#   bench/forwarder/fluentbit/run-fluent-bit.sh [-c CORPUS] [-r RUNS] [-f FORMAT] [-a ADVISE] [-o RESULTS]
#     -c CORPUS  log file to tail (default: local/testdata/apache_combined_10k.log
#                in this repository, the real 10k corpus)
#     -r RUNS    runs per variant (default 3)
#     -f FORMAT  json_lines | msgpack | both   (default both)
#     -a ADVISE  on | off | both: in_tail's file_cache_advise (on is Fluent Bit's
#                default: posix_fadvise(DONTNEED) drops the file's page cache)  (default both)
#     -o RESULTS append one TSV row per run here (default: stdout only)
# Env: FLUENT_BIT (binary), FLUSH (service flush seconds; default 1, Fluent Bit's
# default), TIMEOUT (seconds per run; default 600), GO (go binary), KEEP=1 keeps
# the temp dir.
#
# Per run it prints lines/s (lines / (time of the last byte the receiver received -
# Fluent Bit's start)), CPU-us per line (utime+stime of the fluent-bit process
# from /proc/<pid>/stat, read once every line has arrived, before it is
# stopped), peak RSS (VmHWM from /proc/<pid>/status) and the 1-minute load.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)

corpus=""
runs=3
formats="both"
advise="both"
results=""
while getopts "c:r:f:a:o:h" opt; do
  case $opt in
    c) corpus=$OPTARG ;;
    r) runs=$OPTARG ;;
    f) formats=$OPTARG ;;
    a) advise=$OPTARG ;;
    o) results=$OPTARG ;;
    h) sed -n "2,25p" "$0"; exit 0 ;;
    *) exit 2 ;;
  esac
done
[[ -z $corpus ]] && corpus="$root/local/testdata/apache_combined_10k.log"
[[ -f $corpus ]] || { echo "no corpus at $corpus" >&2; exit 2; }
corpus=$(cd "$(dirname "$corpus")" && pwd)/$(basename "$corpus")
[[ $formats == both ]] && formats="json_lines msgpack"
[[ $advise == both ]] && advise="on off"

fb=${FLUENT_BIT:-$(command -v fluent-bit || true)}
if [[ -z $fb || ! -x $fb ]]; then
  echo "fluent-bit not found: put it on PATH or set FLUENT_BIT (this script does not build it; see README.md)" >&2
  exit 2
fi
GO=${GO:-go}
FLUSH=${FLUSH:-1}
TIMEOUT=${TIMEOUT:-600}
clk=$(getconf CLK_TCK)

work=$(mktemp -d /tmp/spw-fluentbit.XXXXXX)
receiver_pid=""
fb_pid=""
cleanup() {
  [[ -n $fb_pid ]] && kill "$fb_pid" 2>/dev/null || true
  [[ -n $receiver_pid ]] && kill "$receiver_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  [[ ${KEEP:-0} == 1 ]] || rm -rf "$work"
}
trap cleanup EXIT

# The receiver is the project's own Go code; building it is fine (Fluent Bit is not built here).
(cd "$root" && "$GO" build -o "$work/receiver" ./bench/forwarder/fluentbit/receiver)

# Fluent Bit's stock parsers file if installed, else the same apache2 definition
# (Fluent Bit conf/parsers.conf, Apache-2.0) written out here.
parsers=${FLUENT_BIT_PARSERS:-}
if [[ -z $parsers ]]; then
  for p in "$(dirname "$fb")/../etc/fluent-bit/parsers.conf" /usr/local/etc/fluent-bit/parsers.conf /etc/fluent-bit/parsers.conf; do
    if [[ -f $p ]] && grep -q 'Name *apache2$' "$p"; then parsers=$p; break; fi
  done
fi
if [[ -z $parsers ]]; then
  parsers=$work/parsers.conf
  cat > "$parsers" <<'EOF'
[PARSER]
    Name   apache2
    Format regex
    Regex  ^(?<host>[^ ]*) [^ ]* (?<user>[^ ]*) \[(?<time>[^\]]*)\] "(?<method>\S+)(?: +(?<path>[^ ]*) +\S*)?" (?<code>[^ ]*) (?<size>[^ ]*)(?: "(?<referer>[^\"]*)" "(?<agent>.*)")?$
    Time_Key time
    Time_Format %d/%b/%Y:%H:%M:%S %z
EOF
fi

lines=$(wc -l < "$corpus")
bytes=$(stat -c %s "$corpus")
version=$("$fb" --version 2>/dev/null | head -1)
echo "# $version ($fb)"
echo "# corpus $corpus: $lines lines, $bytes bytes; flush ${FLUSH}s; parsers $parsers"
header="fluent_bit\tcorpus\tformat\tfile_cache_advise\trun\tlines\tseconds\tlines_per_s\tcpu_s\tcpu_us_per_line\tsched_cpu_us_per_line\tpeak_rss_kib\trequests\twire_bytes\tload1\tuptime"
printf "%b\n" "$header"
if [[ -n $results && ! -s $results ]]; then printf "%b\n" "$header" > "$results"; fi

stat_json() { # prints the receiver's /stats JSON
  curl -fsS "http://$addr/stats" 2>/dev/null || python3 -c "import urllib.request,sys;sys.stdout.write(urllib.request.urlopen('http://$addr/stats').read().decode())"
}
field() { # field NAME JSON
  sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" <<<"$2"
}

for fmt in $formats; do
  for adv in $advise; do
    for run in $(seq 1 "$runs"); do
      # fresh receiver per run so the counters and timestamps are this run's only
      rm -f "$work/addr"
      "$work/receiver" -addr 127.0.0.1:0 -addr-file "$work/addr" 2> "$work/receiver.log" &
      receiver_pid=$!
      for _ in $(seq 100); do [[ -s $work/addr ]] && break; sleep 0.05; done
      addr=$(cat "$work/addr")
      host=${addr%:*}; port=${addr##*:}
      adv_val=$([[ $adv == on ]] && echo true || echo false)
      cat > "$work/fluent-bit.conf" <<EOF
[SERVICE]
    Flush        $FLUSH
    Log_Level    warn
    Parsers_File $parsers
    HTTP_Server  Off

[INPUT]
    Name              tail
    Path              $corpus
    Read_From_Head    true
    Parser            apache2
    Refresh_Interval  60
    File_Cache_Advise $adv_val

[OUTPUT]
    Name     http
    Match    *
    Host     $host
    Port     $port
    URI      /ingest
    Format   $fmt
    Compress gzip
    Retry_Limit 5
EOF
      up=$(uptime)
      load1=$(awk '{print $1}' /proc/loadavg)
      t0=$(date +%s%N)
      "$fb" -c "$work/fluent-bit.conf" > "$work/fb.log" 2>&1 &
      fb_pid=$!
      deadline=$(( $(date +%s) + TIMEOUT ))
      got=0
      while :; do
        if ! kill -0 "$fb_pid" 2>/dev/null; then echo "fluent-bit exited early; log:" >&2; cat "$work/fb.log" >&2; exit 1; fi
        js=$(stat_json)
        got=$(field records "$js")
        # snapshot CPU and peak RSS on every poll, so the last one is from the
        # moment the final record arrived (before shutdown work)
        read -r ut st < <(awk '{print $14, $15}' "/proc/$fb_pid/stat")
        hwm=$(awk '/^VmHWM:/{print $2}' "/proc/$fb_pid/status")
        # same CPU in ns from the live threads' schedstat (finer than the 10 ms ticks)
        sns=$(cat /proc/"$fb_pid"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}')
        (( got >= lines )) && break
        if (( $(date +%s) > deadline )); then echo "timeout: receiver has $got of $lines records" >&2; break; fi
        sleep 0.1
      done
      js=$(stat_json)
      last=$(field last_unix_ns "$js")
      reqs=$(field requests "$js")
      wire=$(field wire_bytes "$js")
      errs=$(field errors "$js")
      kill "$fb_pid" 2>/dev/null || true
      wait "$fb_pid" 2>/dev/null || true
      fb_pid=""
      kill "$receiver_pid" 2>/dev/null || true
      wait "$receiver_pid" 2>/dev/null || true
      receiver_pid=""
      (( errs == 0 )) || echo "warning: receiver counted $errs bad requests" >&2
      row=$(awk -v v="${version// /_}" -v c="$(basename "$corpus")" -v f="$fmt" -v a="$adv" -v r="$run" \
        -v n="$got" -v t0="$t0" -v t1="$last" -v ut="$ut" -v st="$st" -v clk="$clk" -v hwm="$hwm" \
        -v q="$reqs" -v w="$wire" -v l="$load1" -v up="$up" -v sns="$sns" 'BEGIN {
          s = (t1 - t0) / 1e9; cpu = (ut + st) / clk
          printf "%s\t%s\t%s\t%s\t%d\t%d\t%.3f\t%.0f\t%.2f\t%.2f\t%.2f\t%d\t%d\t%d\t%s\t%s",
            v, c, f, a, r, n, s, (s > 0 ? n / s : 0), cpu, (n > 0 ? cpu * 1e6 / n : 0),
            (n > 0 ? sns / 1e3 / n : 0), hwm, q, w, l, up }')
      echo "$row"
      [[ -n $results ]] && echo "$row" >> "$results"
    done
  done
done
