#!/usr/bin/env bash
# Files benchmark: POST /api/v1/files with 1 MiB files and GET /media/:name of a 1 MiB file, at
# 32 connections; `wrk -t2 --latency` (a Lua script builds each multipart body), interleaved
# runs, medians. Then the component's peak memory for a 10 MiB upload and a 10 MiB download,
# found by lowering galley's per-instance memory limit until the request fails. Writes
# bench/results/files.md.
#
#   bench/files.sh                      # 3 runs × 10 s each
#   RUNS=5 DURATION=20 bench/files.sh
#   SKIP_BUILD=1 SKIP_MEMORY=1 bench/files.sh
source "$(dirname "$0")/lib.sh" 3 10 32
PG_PORT=${GALLEY_TEST_PG_PORT:-54331}
PORT=${BENCH_PORT:-3931}
MIB=$((1024 * 1024))

prepare_app
bench_workspace
# galley on PORT with a per-instance memory limit in MiB (default 128); fails if galley refuses
# it (a limit below what a component declares stops galley at load).
start_limited() { start_galley "$PORT" GALLEY_MEMORY_LIMIT_MB="${1:-128}" 2>>"$state/launcher.log"; }
sql() { psql -h 127.0.0.1 -p "$PG_PORT" -U galley -d files -Atqc "$1"; }
# Deletes the benchmark's files named like $1, and the bytes no other name refers to, so runs
# do not fill the disk.
forget() { # LIKE pattern
  sql "DELETE FROM files WHERE original_name LIKE '$1'" >/dev/null
  sql "DELETE FROM file_contents c WHERE NOT EXISTS (SELECT 1 FROM files f WHERE f.sha256 = c.sha256)" >/dev/null
  sql "VACUUM file_contents" >/dev/null
}

token=$(jwt "$(python3 -c 'import uuid; print(uuid.uuid4())')" customer)
base=http://127.0.0.1:$PORT
forget 'bench-%'
start_limited || { echo "galley did not start:" >&2; cat "$state/launcher.log" >&2; exit 1; }

# One 1 MiB file to download.
head -c "$MIB" /dev/urandom > "$state/one.bin"
url=$(curl -sf "$base/api/v1/files" -H "authorization: Bearer $token" \
  -F "file=@$state/one.bin;filename=bench-download.bin;type=application/octet-stream" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["url"])')
curl -sf "$base$url" | cmp - "$state/one.bin"

# Uploads: a 1 MiB multipart body per request. `new`: the first 32 bytes carry a per-thread
# counter, so every request stores new content (hash, INSERT of 1 MiB, commit); `same`: one
# content, so every request after the first is deduplicated (hash, a one-row lookup, a new name).
upload_lua() { # unique(1|0)
  cat <<LUA
local boundary = "galley-bench-boundary-7f3a9c"
local unique = $1
local counter = 0
local prefix = ""
local filler = ""
init = function(args)
  prefix = tostring(os.time()) .. "-" .. string.match(tostring({}), "0x(%x+)")
  math.randomseed(42)
  local block = {}
  for i = 1, 1024 do block[i] = string.char(math.random(0, 255)) end
  filler = string.rep(table.concat(block), 1024)
end
wrk.method = "POST"
wrk.headers["authorization"] = "Bearer $token"
wrk.headers["content-type"] = "multipart/form-data; boundary=" .. boundary
request = function()
  local data = filler
  if unique == 1 then
    counter = counter + 1
    data = string.format("%-32s", prefix .. "-" .. counter) .. string.sub(filler, 33)
  end
  local body = "--" .. boundary .. "\r\ncontent-disposition: form-data; name=\"file\"; filename=\"bench-upload.bin\"\r\n"
    .. "content-type: application/octet-stream\r\n\r\n" .. data .. "\r\n--" .. boundary .. "--\r\n"
  return wrk.format(nil, nil, nil, body)
end
LUA
}
upload_lua 1 > "$state/upload-new.lua"
upload_lua 0 > "$state/upload-same.lua"

# wrk_script_run LABEL URL [SCRIPT]: bench/lib.sh's wrk_run at this run's shape.
wrk_script_run() { wrk_run "$1" "$2" "$CONNECTIONS" "$DURATION" "$raw" ${3:+-s "$3"}; }
wrk -t2 -c"$CONNECTIONS" -d2s -s "$state/upload-new.lua" "$base/api/v1/files" >/dev/null   # warm-up
wrk -t2 -c"$CONNECTIONS" -d2s "$base$url" >/dev/null
forget bench-upload.bin
curl -sf "$base$url" -o /dev/null || { echo "the download file was lost" >&2; exit 1; }
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for i in $(seq "$RUNS"); do
  echo "run $i/$RUNS"
  wrk_script_run upload-1MiB-new "$base/api/v1/files" "$state/upload-new.lua"
  stored=$(sql "SELECT count(*) FROM files WHERE original_name = 'bench-upload.bin'")
  echo "  stored $stored new files"
  forget bench-upload.bin
  wrk_script_run upload-1MiB-same "$base/api/v1/files" "$state/upload-same.lua"
  forget bench-upload.bin
  wrk_script_run download-1MiB "$base$url"
done
stop_galley

# Peak memory: the smallest per-instance limit (whole MiB) under which a request still
# succeeds. A guest that needs more traps on memory.grow and galley answers 500.
succeeds() { # limit-MiB kind
  local ok=1
  start_limited "$1" || ok=0
  case $2 in
    baseline) [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/media/00000000-0000-0000-0000-000000000000.bin")" = 404 ] || ok=0 ;;
    upload) head -c $((10 * MIB)) /dev/urandom > "$state/ten.bin"
      [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/api/v1/files" -H "authorization: Bearer $token" \
        -F "file=@$state/ten.bin;filename=bench-mem.bin")" = 201 ] || ok=0 ;;
    upload-chunked) head -c $((10 * MIB)) /dev/urandom > "$state/ten.bin"
      [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/api/v1/files" -H "authorization: Bearer $token" \
        -H 'transfer-encoding: chunked' -F "file=@$state/ten.bin;filename=bench-mem.bin")" = 201 ] || ok=0 ;;
    download) curl -sf "$base$big_url" | cmp -s - "$state/big.bin" || ok=0 ;;
  esac
  stop_galley
  [ "$ok" = 1 ]
}
smallest_limit() { # kind: bisect 1..128 MiB
  local low=0 high=128 mid
  while [ $((high - low)) -gt 1 ]; do
    mid=$(((low + high) / 2))
    if succeeds "$mid" "$1"; then high=$mid; else low=$mid; fi
  done
  echo "$high"
}
# galley's RSS after a burst: idle (after one small upload: the component compiled and a pool
# open), right after 16 concurrent 10 MiB uploads, and 5 s later; twice, the second burst on
# a warm process. The goal is the RSS back within 1.5x its idle size a few seconds after.
rss_kib() { ps -o rss= -p "$galley_pid" | tr -d ' '; }
start_limited
head -c 1000 /dev/urandom > "$state/small.bin"
curl -sf -o /dev/null "$base/api/v1/files" -H "authorization: Bearer $token" -F "file=@$state/small.bin;filename=bench-rss.bin"
sleep 5
rss_idle=$(rss_kib)
rss_rows=""
for burst in 1 2; do
  for i in $(seq 16); do head -c $((10 * MIB)) /dev/urandom > "$state/burst-$i.bin"; done
  burst_pids=()
  for i in $(seq 16); do
    curl -sf -o /dev/null "$base/api/v1/files" -H "authorization: Bearer $token" -F "file=@$state/burst-$i.bin;filename=bench-rss.bin" &
    burst_pids+=("$!")
  done
  for p in "${burst_pids[@]}"; do wait "$p" || { echo "an upload of the burst failed" >&2; exit 1; }; done
  rss_after=$(rss_kib)
  sleep 5
  rss_later=$(rss_kib)
  echo "rss: idle $rss_idle KiB, burst $burst: $rss_after KiB after, $rss_later KiB 5 s later"
  rss_rows+="| $burst | $((rss_idle / 1024)) | $((rss_after / 1024)) | $((rss_later / 1024)) | $(python3 -c "print(f'{$rss_later / $rss_idle:.2f}')") |"$'\n'
done
stop_galley
forget bench-rss.bin

memory_rows=""
if [ "${SKIP_MEMORY:-0}" != 1 ]; then
  start_limited
  head -c $((10 * MIB)) /dev/urandom > "$state/big.bin"
  big_url=$(curl -sf "$base/api/v1/files" -H "authorization: Bearer $token" \
    -F "file=@$state/big.bin;filename=bench-big.bin" | python3 -c 'import json,sys; print(json.load(sys.stdin)["url"])')
  stop_galley
  for kind in baseline upload upload-chunked download; do
    limit=$(smallest_limit "$kind")
    echo "memory: $kind needs $limit MiB"
    memory_rows+="| $kind | $limit |"$'\n'
  done
fi
forget 'bench-%'

{
  cat <<MD
# Files: uploads and downloads

Generated by \`bench/files.sh\` on $(date -u +%F) ($(nproc) cores, galley, test-profile Postgres
on the same machine). \`wrk -t2 -c$CONNECTIONS -d${DURATION}s --latency\`, $RUNS interleaved runs each;
medians. Load average (1, 5, 15 min) just before the measured runs, this script's warm-up
included: $load_before. wrk, galley and Postgres share the cores (and anything else running on
the machine does too), so these are figures for this one machine, not a server's.

MD
  median_table "$raw"
  cat <<MD

- **upload-1MiB-new**: \`POST /api/v1/files\`, a 1 MiB file in a multipart body (built by a wrk
  Lua script), its first 32 bytes unique per request: parse, hash and sniff it as it streams, then
  one transaction that inserts the 1 MiB content and a name. Throughput × 1 MiB is the MiB/s
  stored. Rows are deleted after each run, so runs do not fill the disk.
- **upload-1MiB-same**: the same 1 MiB each time: after the first, the content is found by its
  sha256 (\`SELECT … FOR KEY SHARE\`) and only a new name is inserted; the bytes are still
  received, parsed and hashed.
- **download-1MiB**: \`GET /media/:name\` of one 1 MiB file: a metadata SELECT, then the content.
- Non-2xx must be 0.

## galley's RSS after a burst of large uploads

16 concurrent 10 MiB uploads (curl \`-F\`), twice; RSS from \`ps\`. Idle is after one small upload
(the component compiled, its pool open) and 5 s of rest.

| burst | idle (MiB) | right after (MiB) | 5 s later (MiB) | 5 s later / idle |
|---|---|---|---|---|
MD
  printf '%s' "$rss_rows"
  cat <<MD

What brings it back (the goal: within 1.5× of idle a few seconds after):
- a connection that carried a message of 4 MiB or more is closed rather than pooled
  (tokio-postgres keeps its buffers at their peak);
- glibc's mmap threshold is pinned at 4 MiB, so a 10 MiB buffer is mapped on its own and
  unmapped when freed instead of fragmenting an arena, and freed heap memory is handed back to
  the kernel every 3 s (\`malloc_trim\`; both in host/src/heap.rs);
- each pooled instance slot a burst used keeps at most 256 KiB resident afterwards
  (\`--keep-resident-kb\`; at 1024 KiB the 16 slots of a burst kept ~23 MiB).
MD
  if [ -n "$memory_rows" ]; then
    cat <<MD

## Peak memory of the file-upload instance

The smallest \`--memory-limit-mb\` (galley's per-instance linear-memory limit, whole MiB, found
by bisection, a fresh host per try) under which the request still succeeds; below it the guest's
\`memory.grow\` fails and the request is a 500. So each figure is the instance's peak linear
memory, rounded up to the MiB. 10 MiB files of random bytes (new content, so the bytes go to
Postgres), sent by curl \`-F\`.

| request | smallest limit that succeeds (MiB) |
|---|---|
MD
    printf '%s' "$memory_rows"
    cat <<MD

- **baseline**: \`GET /media/<unknown>\` (404): the component's own footprint.
- **upload**: a 10 MiB upload with \`content-length\`: the buffer is sized once from it.
- **upload-chunked**: the same without a declared length (\`transfer-encoding: chunked\`): the buffer
  starts at 64 KiB and, once outgrown, is replaced by one of the whole limit.
- **download**: \`GET\` of a 10 MiB file: the row's bytes are moved into the response.
MD
  fi
} > bench/results/files.md
cat bench/results/files.md
