# shellcheck shell=bash
# A private one-node SLURM (munged + slurmctld + slurmd) with all its state in one folder, as in
# HPC_NOTES.md. Sourced by slurm_test.sh; also usable by hand:
#   source tests/hpc/slurm_cluster.sh; slurm_cluster_start /tmp/x; ...; slurm_cluster_stop /tmp/x
# slurm_cluster_start exports SLURM_CONF (clients find the cluster through it) and leaves the
# daemons' pids in DIR/*.pid. slurm_cluster_stop ends exactly those processes (and the jobs of
# this cluster), never anything found by name, so a system SLURM on the machine is not touched.
# Ports are chosen free at start time, so the default ports 6817/6818 of a real SLURM stay free.

# slurm_free_ports N: N free TCP ports on 127.0.0.1 (bound, then released).
slurm_free_ports() {
  /usr/bin/python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# slurm_pid_alive FILE: true if FILE names a running process.
slurm_pid_alive() {
  local pid
  # The daemon removes its pid file as it exits, possibly between the test and the read.
  pid=$(cat "$1" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ && -r /proc/$pid/stat ]] || return 1
  # A daemon that exited may stay a zombie until init reaps it: that counts as ended.
  [[ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" != Z ]]
}

# slurm_cluster_start DIR: writes DIR/slurm.conf, starts the three daemons, waits for an idle node.
slurm_cluster_start() {
  local dir=$1 host node ctld_port d_port i
  mkdir -p "$dir"/{munge,state,spool,log}
  dir=$(cd "$dir" && pwd)
  host=$(hostname -s)
  # The node as slurmd sees it (CPUs, sockets, memory), minus the uptime.
  node=$(slurmd -C | head -n 1 | sed 's/ UpTime=.*//')
  [[ "$node" == NodeName=* ]] || { echo "slurm_cluster: unexpected 'slurmd -C': $node" >&2; return 1; }
  read -r ctld_port d_port <<<"$(slurm_free_ports 2)"

  # munged runs as user munge; its socket folder must be owned by munge, mode 0711.
  chown munge:munge "$dir/munge"
  chmod 0711 "$dir/munge"
  chmod 0755 "$dir"
  runuser -u munge -- test -x "$dir/munge" ||
    { echo "slurm_cluster: user munge cannot reach $dir/munge (a parent folder's mode?)" >&2; return 1; }
  runuser -u munge -- /usr/sbin/munged --socket="$dir/munge/munge.socket.2" \
    --pid-file="$dir/munge/munged.pid" --key-file=/etc/munge/munge.key \
    --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed" ||
    { echo "slurm_cluster: munged failed to start" >&2; return 1; }

  cat >"$dir/slurm.conf" <<EOF
ClusterName=decouple-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket.2,cred_expire=10
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
EnforcePartLimits=ALL
MpiDefault=pmix
ReturnToService=2
MinJobAge=4
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,sched_interval=1,bf_interval=1
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
PlugStackConfig=$dir/plugstack.conf
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  : >"$dir/plugstack.conf"
  export SLURM_CONF="$dir/slurm.conf"

  slurmctld -f "$SLURM_CONF" || { echo "slurm_cluster: slurmctld failed to start" >&2; return 1; }
  slurmd -f "$SLURM_CONF" || { echo "slurm_cluster: slurmd failed to start" >&2; return 1; }
  for ((i = 0; i < 300; i++)); do # up to 30 s; it takes about 0.1 s
    [[ "$(sinfo -h -N -o %T 2>/dev/null)" == idle ]] && return 0
    sleep 0.1
  done
  echo "slurm_cluster: node not idle after 30 s: $(sinfo -N 2>&1)" >&2
  return 1
}

# slurm_cluster_stop DIR: cancels this cluster's jobs, shuts the daemons down, ends munged; every
# process by the pid in its pid file. Safe to call twice or after a failed start.
slurm_cluster_stop() {
  local dir=$1 f pid i
  [[ -d "$dir" ]] || return 0
  if [[ -f "$dir/slurm.conf" ]] && slurm_pid_alive "$dir/slurmctld.pid"; then
    export SLURM_CONF="$dir/slurm.conf"
    # Jobs first: a step's processes outlive slurmd, so they are ended while it still runs.
    scancel --quiet "--user=$(id -un)" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      [[ -z "$(squeue -h -o %i 2>/dev/null)" ]] && break
      sleep 0.1
    done
    scontrol shutdown >/dev/null 2>&1 || true
  fi
  # munged has no shutdown command: TERM it (after the SLURM daemons, which need it to stop).
  for f in slurmd.pid slurmctld.pid munge/munged.pid; do
    if [[ $f == munge/munged.pid ]] && slurm_pid_alive "$dir/$f"; then
      kill -TERM "$(<"$dir/$f")" 2>/dev/null || true
    fi
    for ((i = 0; i < 100; i++)); do
      slurm_pid_alive "$dir/$f" || break
      sleep 0.1
    done
    if slurm_pid_alive "$dir/$f"; then
      pid=$(<"$dir/$f")
      echo "slurm_cluster: $f ($pid) still running after 10 s: killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}
