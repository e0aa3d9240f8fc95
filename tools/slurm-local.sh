#!/usr/bin/env bash
# A single-node Slurm cluster on this Debian machine, for trying (and testing) the grid's Slurm path.
#
#   tools/slurm-local.sh start    install what is missing, write the configs, start the daemons
#   tools/slurm-local.sh stop     stop the daemons this script started (by their pid files)
#   tools/slurm-local.sh status   what runs, and sinfo
#
# Needs root and Debian's packages (munge, slurmctld, slurmd, slurm-client, slurmdbd, mariadb-server).
# No systemd: the daemons are started by hand and their pid files kept in $STATE. Accounting
# (slurmdbd + MariaDB) is not optional: without it sacct fails, submitit sees a dead job's state as
# UNKNOWN and waits for it forever. Idempotent: a second start starts only what is not running,
# and stop never kills a daemon it did not start (nothing by name).
set -euo pipefail

STATE=${PNLIB_SLURM_STATE:-/var/lib/pnlib-slurm}
CLUSTER=pnlib
MARK="# written by pnlib tools/slurm-local.sh"
CONF=/etc/slurm/slurm.conf
DBD_CONF=/etc/slurm/slurmdbd.conf
DB_PASS=pnlib-slurm-local
PACKAGES=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server)

log() { echo "slurm-local: $*"; }
die() { echo "slurm-local: $*" >&2; exit 1; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_for() {  # wait_for <seconds> <what> <command...>
  local n=$1 what=$2; shift 2
  for _ in $(seq $((n * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  die "$what did not come up within $n s (logs in $STATE/log)"
}

install_missing() {
  local missing=()
  for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "${missing[@]}" >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null; }
}

write_configs() {
  local host node
  host=$(hostname -s)
  getent hosts "$host" >/dev/null || { echo "127.0.0.1 $host $MARK" >> /etc/hosts; log "added $host to /etc/hosts"; }
  mkdir -p /etc/slurm "$STATE"/{ctld,d,log}
  if [ -f "$CONF" ] && ! grep -q "$MARK" "$CONF"; then
    die "$CONF exists and was not written by this script: not touching a real cluster's config"
  fi
  # the node as slurmd sees it: a larger RealMemory than it finds would drain the node
  node=$(slurmd -C | head -1)
  cat > "$CONF" <<CONF
$MARK
ClusterName=$CLUSTER
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
KillWait=5
SchedulerParameters=batch_sched_delay=0
MpiDefault=none
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
$node
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  cat > "$DBD_CONF" <<CONF
$MARK
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=slurm_acct_db
StorageUser=slurm
StoragePass=$DB_PASS
PidFile=$STATE/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
CONF
  chmod 0600 "$DBD_CONF"
}

start() {
  [ "$(id -u)" -eq 0 ] || die "needs root (it installs packages and starts system daemons)"
  install_missing
  write_configs
  touch "$STATE/started"
  # munge: its run directory and key owned by munge, the daemon run as munge
  mkdir -p /run/munge && chown munge:munge /run/munge
  [ -f /etc/munge/munge.key ] || /usr/sbin/mungekey --create >/dev/null 2>&1 || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null
  chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
  if ! alive /run/munge/munged.pid; then
    runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
    echo /run/munge/munged.pid >> "$STATE/started"; log "munged started"
  fi
  # MariaDB on its local socket, for slurmdbd
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
  if ! alive /run/mysqld/mariadb.pid; then
    [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql >/dev/null
    runuser -u mysql -- /usr/sbin/mariadbd --pid-file=/run/mysqld/mariadb.pid --socket=/run/mysqld/mysqld.sock \
      --skip-networking > "$STATE/log/mariadb.log" 2>&1 &
    wait_for 30 MariaDB mysqladmin --socket=/run/mysqld/mysqld.sock ping
    echo /run/mysqld/mariadb.pid >> "$STATE/started"; log "mariadb started"
  fi
  mysql --socket=/run/mysqld/mysqld.sock -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
  if ! alive "$STATE/slurmdbd.pid"; then
    /usr/sbin/slurmdbd; wait_for 30 slurmdbd sacctmgr -n list cluster
    echo "$STATE/slurmdbd.pid" >> "$STATE/started"; log "slurmdbd started"
  fi
  sacctmgr -n list cluster format=cluster | grep -qw "$CLUSTER" || sacctmgr -i add cluster "$CLUSTER" >/dev/null
  if ! alive "$STATE/slurmctld.pid"; then
    /usr/sbin/slurmctld; wait_for 30 slurmctld scontrol ping
    echo "$STATE/slurmctld.pid" >> "$STATE/started"; log "slurmctld started"
  fi
  if ! alive "$STATE/slurmd.pid"; then
    /usr/sbin/slurmd; echo "$STATE/slurmd.pid" >> "$STATE/started"; log "slurmd started"
  fi
  wait_for 30 "an idle node" bash -c "sinfo -h -o %T | grep -qE 'idle|mix|alloc'"
  log "up: $(sinfo -h -o '%P %D %T %c CPUs' | head -1)"
}

stop() {
  [ -f "$STATE/started" ] || { log "nothing was started by this script"; return 0; }
  # reverse order of starting; only the pid files this script recorded
  tac "$STATE/started" | while read -r pidfile; do
    [ -n "$pidfile" ] || continue
    if alive "$pidfile"; then
      local pid; pid=$(cat "$pidfile")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
      log "stopped $(basename "$pidfile" .pid) (pid $pid)"
    fi
  done
  rm -f "$STATE/started"
}

status() {
  for f in /run/munge/munged.pid /run/mysqld/mariadb.pid "$STATE"/{slurmdbd,slurmctld,slurmd}.pid; do
    if alive "$f"; then echo "$(basename "$f" .pid): running (pid $(cat "$f"))"; else echo "$(basename "$f" .pid): not running"; fi
  done
  command -v sinfo >/dev/null && sinfo 2>/dev/null || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
