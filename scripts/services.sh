#!/usr/bin/env bash
# Start/stop the real servers the hitcount test-suite and developers need:
# Redis and Elasticsearch 8 + 9, all bound to 127.0.0.1 and living under
# $REPO/var/services/ (git-ignored).
#
#   scripts/services.sh up     [SERVICE...]   start (idempotent); default: all
#   scripts/services.sh down   [--purge] [SERVICE...]
#                                             stop; --purge also deletes data+logs
#   scripts/services.sh status [SERVICE...]   exit 0 if all running, 3 otherwise
#   scripts/services.sh clean                 stop all, delete var/services
#
# SERVICE is one of: redis elastic8 elastic9
#
# After up/down, $REPO/var/services.env holds KEY=VALUE lines for every
# service that is actually running:
#   HITCOUNT_REDIS_URL, HITCOUNT_ELASTIC8_URL, HITCOUNT_ELASTIC8_VERSION,
#   HITCOUNT_ELASTIC9_URL, HITCOUNT_ELASTIC9_VERSION
#
# Ports (override via env): HITCOUNT_SERVICES_REDIS_PORT (16379),
#   HITCOUNT_SERVICES_ELASTIC8_PORT (19208), HITCOUNT_SERVICES_ELASTIC9_PORT
#   (19209), HITCOUNT_SERVICES_ELASTIC8_TRANSPORT_PORT (19308),
#   HITCOUNT_SERVICES_ELASTIC9_TRANSPORT_PORT (19309).
# Other knobs: HITCOUNT_SERVICES_ES_TIMEOUT (s, default 180),
#   HITCOUNT_SERVICES_ES_HEAP (default 512m),
#   HITCOUNT_SERVICES_ELASTIC8_JAVA_HOME / HITCOUNT_SERVICES_ELASTIC9_JAVA_HOME.
#
# Must run as root: it may apt-get install redis-server, creates the system
# user hitcount-es and runs Elasticsearch as that user (ES refuses root).
# Elasticsearch comes from Maven Central as the official integ-test
# distribution (org.elasticsearch.distribution.integ-test-zip), fetched
# with mvn (cached in ~/.m2). That distribution only ships the modules
# transport-netty4, x-pack-core, x-pack-security and apm: no painless, no
# reindex/update_by_query, no analysis-common, no ingest-geoip.
set -euo pipefail

ES8_VERSION=8.19.21
ES9_VERSION=9.5.4

ALL_SERVICES=(redis elastic8 elastic9)

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
SVC_DIR=$REPO/var/services
ENV_FILE=$REPO/var/services.env

REDIS_PORT=${HITCOUNT_SERVICES_REDIS_PORT:-16379}
ELASTIC8_PORT=${HITCOUNT_SERVICES_ELASTIC8_PORT:-19208}
ELASTIC9_PORT=${HITCOUNT_SERVICES_ELASTIC9_PORT:-19209}
ELASTIC8_TRANSPORT_PORT=${HITCOUNT_SERVICES_ELASTIC8_TRANSPORT_PORT:-19308}
ELASTIC9_TRANSPORT_PORT=${HITCOUNT_SERVICES_ELASTIC9_TRANSPORT_PORT:-19309}
ES_TIMEOUT=${HITCOUNT_SERVICES_ES_TIMEOUT:-180}
ES_HEAP=${HITCOUNT_SERVICES_ES_HEAP:-512m}
REDIS_TIMEOUT=30
STOP_TIMEOUT=30

ES_USER=hitcount-es
CLEAN_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

umask 022

# ---------------------------------------------------------------- helpers

die() {
  printf 'services.sh: error: %s\n' "$*" >&2
  exit 1
}

warn() {
  printf 'services.sh: %s\n' "$*" >&2
}

# line SERVICE TEXT... -> one aligned status line
line() {
  local svc=$1
  shift
  printf '%-9s %s\n' "$svc" "$*"
}

log_tail() { # FILE...
  local f
  for f in "$@"; do
    [[ -s $f ]] || continue
    printf -- '--- last lines of %s ---\n' "$f" >&2
    tail -n 15 "$f" | cut -c1-400 >&2
  done
}

now() { date +%s; }
now_ms() { date +%s%3N; }
since() { # since START_MS -> "12.3s"
  local ms=$(($(now_ms) - $1))
  printf '%d.%ds' $((ms / 1000)) $((ms % 1000 / 100))
}

port_of() {
  case $1 in
    redis) echo "$REDIS_PORT" ;;
    elastic8) echo "$ELASTIC8_PORT" ;;
    elastic9) echo "$ELASTIC9_PORT" ;;
  esac
}

transport_port_of() {
  case $1 in
    elastic8) echo "$ELASTIC8_TRANSPORT_PORT" ;;
    elastic9) echo "$ELASTIC9_TRANSPORT_PORT" ;;
  esac
}

es_version_of() {
  case $1 in
    elastic8) echo "$ES8_VERSION" ;;
    elastic9) echo "$ES9_VERSION" ;;
  esac
}

# Something (anything) accepts TCP connections on 127.0.0.1:PORT?
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# pid_alive PID PATTERN: process exists and its command line matches PATTERN
# (guards against a stale pid file pointing at a recycled pid).
pid_alive() {
  local pid=$1 pattern=$2 cmdline
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *"$pattern"* ]]
}

read_pid() { # FILE -> pid or empty
  local pid=""
  [[ -f $1 ]] && pid=$(tr -dc '0-9' <"$1" 2>/dev/null || true)
  echo "$pid"
}

need_root() {
  [[ $(id -u) -eq 0 ]] || die "must run as root (it installs packages and runs Elasticsearch as user $ES_USER)"
}

apt_install() { # PACKAGE...
  need_root
  warn "installing $* with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  {
    apt-get update -qq && apt-get install -y -qq "$@"
  } >"$SVC_DIR/apt.log" 2>&1 || {
    log_tail "$SVC_DIR/apt.log"
    die "apt-get install $* failed (log: $SVC_DIR/apt.log)"
  }
}

ensure_cmd() { # COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 || apt_install "$2"
  command -v "$1" >/dev/null 2>&1 || die "$1 still missing after installing $2"
}

# ------------------------------------------------------------------ redis

REDIS_DIR=$SVC_DIR/redis
REDIS_PIDFILE=$REDIS_DIR/redis.pid
REDIS_LOG=$REDIS_DIR/redis.log

redis_pid() {
  local pid
  pid=$(read_pid "$REDIS_PIDFILE")
  if [[ -n $pid ]] && pid_alive "$pid" redis-server; then
    echo "$pid"
  fi
}

redis_answers() {
  [[ $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]
}

redis_url() { echo "redis://127.0.0.1:$REDIS_PORT/0"; }

redis_up() {
  local pid start deadline
  pid=$(redis_pid)
  if [[ -n $pid ]]; then
    command -v redis-cli >/dev/null 2>&1 || ensure_cmd redis-cli redis-tools
    if redis_answers; then
      line redis "up       $(redis_url) (already running, pid $pid)"
      return 0
    fi
  else
    rm -f "$REDIS_PIDFILE"
    ensure_cmd redis-server redis-server
    ensure_cmd redis-cli redis-tools
    if port_open "$REDIS_PORT"; then
      die "redis: port $REDIS_PORT is already in use by a process this script does not manage (set HITCOUNT_SERVICES_REDIS_PORT)"
    fi
    mkdir -p "$REDIS_DIR"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --protected-mode yes \
      --daemonize yes --pidfile "$REDIS_PIDFILE" --logfile "$REDIS_LOG" \
      --dir "$REDIS_DIR" --appendonly yes --appendfsync always --save '' \
      </dev/null >"$REDIS_DIR/start.out" 2>&1 9>&- || {
      log_tail "$REDIS_DIR/start.out" "$REDIS_LOG"
      die "redis: redis-server failed to start (log: $REDIS_LOG)"
    }
  fi
  start=$(now_ms)
  deadline=$(($(now) + REDIS_TIMEOUT))
  until redis_answers; do
    if (($(now) >= deadline)); then
      log_tail "$REDIS_LOG"
      die "redis: no PONG on port $REDIS_PORT after ${REDIS_TIMEOUT}s (log: $REDIS_LOG)"
    fi
    sleep 0.2
  done
  pid=$(redis_pid)
  line redis "up       $(redis_url) (started, pid ${pid:-?}, ready in $(since "$start"))"
}

redis_status() {
  local pid
  pid=$(redis_pid)
  if [[ -z $pid ]]; then
    line redis "stopped"
    return 3
  fi
  if redis_answers; then
    line redis "running  $(redis_url) (pid $pid)"
    return 0
  fi
  line redis "unhealthy (pid $pid alive, no PONG on port $REDIS_PORT)"
  return 3
}

# ---------------------------------------------------------- elasticsearch

# ES files must be reachable by $ES_USER. They live in $SVC_DIR/es, which is
# a real directory when the repo path is traversable by that user, or else a
# symlink to a private directory under /var/lib/hitcount-es (e.g. when the
# clone sits in a mode-700 mktemp dir or under /root).
ES_LINK=$SVC_DIR/es
ES_FALLBACK_ROOT=/var/lib/hitcount-es

es_fallback_dir() {
  local hash
  hash=$(printf '%s' "$REPO" | sha1sum | cut -c1-12)
  echo "$ES_FALLBACK_ROOT/$(basename "$REPO")-$hash"
}

ensure_es_user() {
  id -u "$ES_USER" >/dev/null 2>&1 && return 0
  need_root
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin "$ES_USER" ||
    die "could not create system user $ES_USER"
}

as_es() { runuser -u "$ES_USER" -- "$@"; }

# Prints the real (symlink-resolved) ES base dir, creating it if needed.
es_base() {
  local target
  if [[ -L $ES_LINK ]]; then
    target=$(readlink "$ES_LINK")
    mkdir -p "$target"
  elif [[ -d $ES_LINK ]]; then
    target=$ES_LINK
  elif as_es test -x "$SVC_DIR"; then
    mkdir -p "$ES_LINK"
    target=$ES_LINK
  else
    target=$(es_fallback_dir)
    warn "note: $SVC_DIR is not traversable by user $ES_USER; keeping Elasticsearch files in $target (symlinked as $ES_LINK)"
    mkdir -p "$target"
    chmod 755 "$ES_FALLBACK_ROOT"
    ln -sfn "$target" "$ES_LINK"
  fi
  chown "$ES_USER:" "$target"
  as_es test -w "$target" ||
    die "user $ES_USER cannot write to $target (a parent directory is not traversable?)"
  echo "$target"
}

# Read-only lookup of the ES base dir (for status/down): no creation.
es_base_ro() {
  if [[ -L $ES_LINK ]]; then
    readlink "$ES_LINK"
  else
    echo "$ES_LINK"
  fi
}

es_pidfile() { echo "$(es_base_ro)/$1/elasticsearch.pid"; }

es_pid() {
  local pid
  pid=$(read_pid "$(es_pidfile "$1")")
  if [[ -n $pid ]] && pid_alive "$pid" org.elasticsearch; then
    echo "$pid"
  fi
}

es_url() { echo "http://127.0.0.1:$(port_of "$1")"; }

# Cluster health yellow/green?
es_healthy() {
  local out
  out=$(curl -s --max-time 10 "$(es_url "$1")/_cluster/health?wait_for_status=yellow&timeout=2s" 2>/dev/null) || return 1
  [[ $out == *'"status":"yellow"'* || $out == *'"status":"green"'* ]]
}

# Version number the node at the service's port reports. (GET / is not
# served: the integ-test distribution lacks the rest-root module.)
es_running_version() {
  local v
  v=$(curl -s --max-time 10 "$(es_url "$1")/_nodes/_local?filter_path=nodes.*.version" 2>/dev/null) || true
  if [[ $v =~ \"version\":\"([0-9]+\.[0-9]+\.[0-9]+[^\"]*)\" ]]; then echo "${BASH_REMATCH[1]}"; fi
}

# jdk_major DIR -> major version number (or nothing)
jdk_major() {
  local dir=$1 v=""
  [[ -x $dir/bin/java ]] || return 0
  if [[ -f $dir/release ]]; then
    v=$(sed -n 's/^JAVA_VERSION="\([^"]*\)".*/\1/p' "$dir/release")
  fi
  if [[ -z $v ]]; then
    v=$("$dir/bin/java" -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n 1)
  fi
  v=${v#1.} # 1.8 -> 8
  echo "${v%%[^0-9]*}"
}

# find_jdk MIN [MAX] -> the newest JDK under /usr/lib/jvm with MIN <= major <= MAX
find_jdk() {
  local min=$1 max=${2:-999} dir real major best="" best_major=0
  local -A seen=()
  for dir in /usr/lib/jvm/*/; do
    dir=${dir%/}
    real=$(readlink -f "$dir")
    [[ -n ${seen[$real]:-} ]] && continue
    seen[$real]=1
    major=$(jdk_major "$real")
    [[ -n $major ]] || continue
    if ((major >= min && major <= max && major > best_major)); then
      best=$real
      best_major=$major
    fi
  done
  echo "$best"
}

es_java_home() {
  local svc=$1 jh=""
  case $svc in
    elastic8)
      jh=${HITCOUNT_SERVICES_ELASTIC8_JAVA_HOME:-}
      [[ -n $jh ]] || jh=$(find_jdk 17 17)
      [[ -n $jh ]] || jh=$(find_jdk 17)
      [[ -n $jh ]] || die "elastic8: no JDK >= 17 found under /usr/lib/jvm (apt-get install openjdk-17-jdk-headless, or set HITCOUNT_SERVICES_ELASTIC8_JAVA_HOME)"
      ;;
    elastic9)
      jh=${HITCOUNT_SERVICES_ELASTIC9_JAVA_HOME:-}
      [[ -n $jh ]] || jh=$(find_jdk 21)
      [[ -n $jh ]] || die "elastic9: Elasticsearch 9 needs Java 21+, but no JDK >= 21 was found under /usr/lib/jvm (set HITCOUNT_SERVICES_ELASTIC9_JAVA_HOME)"
      ;;
  esac
  [[ -x $jh/bin/java ]] || die "$svc: $jh/bin/java is not executable"
  echo "$jh"
}

# Fetch (mvn, cached in ~/.m2) and unpack the integ-test distribution.
# Prints the distribution dir.
es_distribution() {
  local svc=$1 version base dist dl zip tmp artifact
  version=$(es_version_of "$svc")
  base=$2
  dist=$base/elasticsearch-$version
  if [[ -x $dist/bin/elasticsearch ]]; then
    echo "$dist"
    return 0
  fi
  dl=$SVC_DIR/downloads
  zip=$dl/elasticsearch-$version.zip
  mkdir -p "$dl"
  if ! unzip -tqq "$zip" >/dev/null 2>&1; then
    rm -f "$zip"
    ensure_cmd mvn maven
    artifact=org.elasticsearch.distribution.integ-test-zip:elasticsearch:$version:zip
    line "$svc" "fetching $artifact (Maven Central, cached in ~/.m2)" >&2
    # Run mvn from the downloads dir so no project pom.xml gets picked up.
    (cd "$dl" && mvn -q -B -Dstyle.color=never dependency:copy \
      "-Dartifact=$artifact" "-DoutputDirectory=$dl") >"$dl/mvn-$version.log" 2>&1 || {
      log_tail "$dl/mvn-$version.log"
      die "$svc: mvn could not fetch $artifact (log: $dl/mvn-$version.log)"
    }
    [[ -f $zip ]] || die "$svc: mvn finished but $zip is missing"
  fi
  tmp=$(mktemp -d "$base/.unpack.XXXXXX")
  unzip -q "$zip" -d "$tmp" || {
    rm -rf "$tmp"
    die "$svc: unzip of $zip failed"
  }
  [[ -x $tmp/elasticsearch-$version/bin/elasticsearch ]] || {
    rm -rf "$tmp"
    die "$svc: $zip does not contain elasticsearch-$version/bin/elasticsearch"
  }
  rm -rf "$dist"
  mv "$tmp/elasticsearch-$version" "$dist"
  rm -rf "$tmp"
  chown -R "$ES_USER:" "$dist"
  echo "$dist"
}

es_check_ports() { # SERVICE: fail if its ports are taken by something else
  local svc=$1 p
  for p in "$(port_of "$svc")" "$(transport_port_of "$svc")"; do
    if port_open "$p"; then
      die "$svc: port $p is already in use by a process this script does not manage (see HITCOUNT_SERVICES_* port variables)"
    fi
  done
}

# es_launch SERVICE: start the node in the background (returns at once).
# The launcher's exit code lands in $SVC_DIR/SERVICE.launch-rc.
es_launch() {
  local svc=$1 base dist run jh version port tport
  local -a settings
  base=$(es_base)
  dist=$(es_distribution "$svc" "$base")
  jh=$(es_java_home "$svc")
  version=$(es_version_of "$svc")
  port=$(port_of "$svc")
  tport=$(transport_port_of "$svc")
  run=$base/$svc
  mkdir -p "$run/data" "$run/logs" "$run/tmp"
  chown "$ES_USER:" "$run" "$run/data" "$run/logs" "$run/tmp"
  rm -f "$run/elasticsearch.pid" "$SVC_DIR/$svc.launch-rc"

  settings=(
    -E "cluster.name=hitcount-$svc"
    -E "node.name=hitcount-$svc"
    -E discovery.type=single-node
    -E xpack.security.enabled=false
    -E network.host=127.0.0.1
    -E "http.port=$port"
    -E "transport.port=$tport"
    -E "path.data=$run/data"
    -E "path.logs=$run/logs"
    -E cluster.routing.allocation.disk.threshold_enabled=false
    -E action.destructive_requires_name=false
  )
  # Only distributions that ship the ingest-geoip module know this setting.
  if [[ -d $dist/modules/ingest-geoip ]]; then
    settings+=(-E ingest.geoip.downloader.enabled=false)
  fi

  line "$svc" "starting elasticsearch $version (java $(jdk_major "$jh"): $jh)"
  now_ms >"$SVC_DIR/$svc.started"
  (
    cd "$dist"
    rc=0
    runuser -u "$ES_USER" -- env -i \
      PATH="$CLEAN_PATH" HOME="$run" LANG=C.UTF-8 \
      ES_JAVA_HOME="$jh" \
      ES_JAVA_OPTS="-Xms$ES_HEAP -Xmx$ES_HEAP" \
      ES_PATH_CONF="$dist/config" \
      ES_TMPDIR="$run/tmp" \
      "$dist/bin/elasticsearch" -d -p "$run/elasticsearch.pid" "${settings[@]}" \
      </dev/null >"$SVC_DIR/$svc.out" 2>&1 9>&- || rc=$?
    echo "$rc" >"$SVC_DIR/$svc.launch-rc"
  ) &
}

# es_wait SERVICE: wait until healthy; returns 1 (after printing why) on failure.
es_wait() {
  local svc=$1 start deadline rc pid run
  run=$(es_base_ro)/$svc
  start=$(cat "$SVC_DIR/$svc.started" 2>/dev/null || now_ms)
  deadline=$((start / 1000 + ES_TIMEOUT))
  until es_healthy "$svc"; do
    rc=$(cat "$SVC_DIR/$svc.launch-rc" 2>/dev/null || true)
    if [[ -n $rc && $rc != 0 ]]; then
      log_tail "$SVC_DIR/$svc.out" "$run/logs/hitcount-$svc.log"
      warn "$svc: elasticsearch failed to start (launcher exit code $rc; logs: $SVC_DIR/$svc.out, $run/logs/)"
      return 1
    fi
    if (($(now) >= deadline)); then
      log_tail "$SVC_DIR/$svc.out" "$run/logs/hitcount-$svc.log"
      pid=$(es_pid "$svc")
      if [[ -n $pid ]]; then stop_pid "$svc" "$pid" org.elasticsearch >/dev/null; fi
      warn "$svc: not healthy (yellow/green) on port $(port_of "$svc") after ${ES_TIMEOUT}s, stopped it (logs: $SVC_DIR/$svc.out, $run/logs/)"
      return 1
    fi
    sleep 1
  done
  pid=$(es_pid "$svc")
  line "$svc" "up       $(es_url "$svc") ($(es_running_version "$svc"), pid ${pid:-?}, healthy in $(since "$start"))"
  rm -f "$SVC_DIR/$svc.started" "$SVC_DIR/$svc.launch-rc"
}

es_check_version() {
  local svc=$1 running
  running=$(es_running_version "$svc")
  if [[ -n $running && $running != "$(es_version_of "$svc")" ]]; then
    warn "$svc: running $running but $(es_version_of "$svc") is pinned; run 'down $svc' then 'up $svc' to switch"
  fi
}

es_status() {
  local svc=$1 pid
  pid=$(es_pid "$svc")
  if [[ -z $pid ]]; then
    line "$svc" "stopped"
    return 3
  fi
  if es_healthy "$svc"; then
    line "$svc" "running  $(es_url "$svc") ($(es_running_version "$svc"), pid $pid)"
    return 0
  fi
  line "$svc" "unhealthy (pid $pid alive, port $(port_of "$svc") not yellow/green yet)"
  return 3
}

# ---------------------------------------------------------------- generic

# stop_pid SERVICE PID PATTERN: TERM, wait, KILL.
stop_pid() {
  local svc=$1 pid=$2 pattern=$3 i
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_TIMEOUT * 5; i++)); do
    pid_alive "$pid" "$pattern" || {
      line "$svc" "stopped  (pid $pid)"
      return 0
    }
    sleep 0.2
  done
  kill -KILL "$pid" 2>/dev/null || true
  sleep 0.5
  line "$svc" "stopped  (pid $pid, killed after ${STOP_TIMEOUT}s)"
}

svc_down() {
  local svc=$1 pid
  case $svc in
    redis)
      pid=$(redis_pid)
      if [[ -n $pid ]]; then stop_pid redis "$pid" redis-server; else line redis "not running"; fi
      rm -f "$REDIS_PIDFILE"
      ;;
    elastic8 | elastic9)
      pid=$(es_pid "$svc")
      if [[ -n $pid ]]; then stop_pid "$svc" "$pid" org.elasticsearch; else line "$svc" "not running"; fi
      rm -f "$(es_pidfile "$svc")" "$SVC_DIR/$svc.started" "$SVC_DIR/$svc.launch-rc"
      ;;
  esac
}

svc_purge() {
  local svc=$1 base
  case $svc in
    redis) rm -rf "$REDIS_DIR" ;;
    elastic8 | elastic9)
      base=$(es_base_ro)
      rm -rf "${base:?}/$svc" "$SVC_DIR/$svc.out"
      ;;
  esac
  line "$svc" "purged data and logs"
}

# Rewrite var/services.env from what is actually running.
write_env() {
  local tmp svc
  mkdir -p "$(dirname "$ENV_FILE")"
  tmp=$(mktemp "$ENV_FILE.XXXXXX")
  {
    if [[ -n $(redis_pid) ]] && command -v redis-cli >/dev/null 2>&1 && redis_answers; then
      echo "HITCOUNT_REDIS_URL=$(redis_url)"
    fi
    for svc in elastic8 elastic9; do
      if [[ -n $(es_pid "$svc") ]] && es_healthy "$svc"; then
        local key=HITCOUNT_${svc^^}
        echo "${key}_URL=$(es_url "$svc")"
        echo "${key}_VERSION=$(es_running_version "$svc")"
      fi
    done
  } >"$tmp"
  chmod 644 "$tmp"
  mv -f "$tmp" "$ENV_FILE"
}

SERVICES=()
parse_services() { # sets SERVICES (default: all)
  local s
  SERVICES=()
  if (($# == 0)); then
    SERVICES=("${ALL_SERVICES[@]}")
    return 0
  fi
  for s in "$@"; do
    case $s in
      redis | elastic8 | elastic9) SERVICES+=("$s") ;;
      *) die "unknown service '$s' (expected: ${ALL_SERVICES[*]})" ;;
    esac
  done
}

lock() {
  mkdir -p "$SVC_DIR"
  exec 9>"$SVC_DIR/.lock"
  flock -w 900 9 || die "another services.sh is still running (lock $SVC_DIR/.lock)"
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

# --------------------------------------------------------------- commands

cmd_up() {
  local svc pid failed=0
  local -a es_wait_list=() es_start_list=()
  parse_services "$@"
  need_root
  lock
  for svc in "${SERVICES[@]}"; do
    if [[ $svc == redis ]]; then redis_up; fi
  done
  for svc in "${SERVICES[@]}"; do
    [[ $svc == elastic8 || $svc == elastic9 ]] || continue
    ensure_es_user
    ensure_cmd curl curl
    ensure_cmd unzip unzip
    pid=$(es_pid "$svc")
    if [[ -n $pid ]]; then
      if es_healthy "$svc"; then
        line "$svc" "up       $(es_url "$svc") ($(es_running_version "$svc"), already running, pid $pid)"
        es_check_version "$svc"
        continue
      fi
      # Alive but not healthy yet (still starting?): wait for it below.
      [[ -f $SVC_DIR/$svc.started ]] || now_ms >"$SVC_DIR/$svc.started"
      line "$svc" "pid $pid alive but not healthy yet, waiting"
    else
      rm -f "$(es_pidfile "$svc")"
      es_check_ports "$svc"
      es_start_list+=("$svc")
    fi
    es_wait_list+=("$svc")
  done
  # Ports are checked for all before anything is launched.
  for svc in "${es_start_list[@]}"; do
    es_launch "$svc"
  done
  # Both nodes boot concurrently; wait for each in turn.
  for svc in "${es_wait_list[@]}"; do
    es_wait "$svc" || failed=1
  done
  wait # reap launcher subshells
  write_env
  ((failed == 0)) || die "some services failed to start (see above); $ENV_FILE lists the running ones"
}

cmd_down() {
  local svc purge=0
  local -a args=()
  for svc in "$@"; do
    if [[ $svc == --purge ]]; then purge=1; else args+=("$svc"); fi
  done
  parse_services "${args[@]}"
  need_root
  lock
  for svc in "${SERVICES[@]}"; do
    svc_down "$svc"
    if ((purge)); then svc_purge "$svc"; fi
  done
  write_env
}

cmd_status() {
  local svc rc=0
  parse_services "$@"
  for svc in "${SERVICES[@]}"; do
    case $svc in
      redis) redis_status || rc=3 ;;
      *) es_status "$svc" || rc=3 ;;
    esac
  done
  return "$rc"
}

cmd_clean() {
  local svc target=""
  need_root
  lock
  for svc in "${ALL_SERVICES[@]}"; do svc_down "$svc"; done
  [[ -L $ES_LINK ]] && target=$(readlink "$ES_LINK")
  [[ -n $target && $target == "$ES_FALLBACK_ROOT"/* ]] && rm -rf "$target"
  # Keep the lock file (we hold it) until the very end.
  find "$SVC_DIR" -mindepth 1 -maxdepth 1 ! -name .lock -exec rm -rf {} +
  rm -f "$ENV_FILE" "$SVC_DIR/.lock"
  rmdir "$SVC_DIR" 2>/dev/null || true
  echo "removed $SVC_DIR"
}

main() {
  local cmd=${1:-}
  (($# > 0)) && shift
  case $cmd in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status "$@" ;;
    clean) cmd_clean ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
