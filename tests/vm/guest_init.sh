#!/bin/busybox sh
# PID 1 of the test VM that tests/vm/boot.py boots (see tests/vm/README.md).
#
# Stage 1 runs from the initramfs as /init, with only busybox and a few modules:
#   mount /proc, /sys, /dev; load the 9p modules; mount the host's / READ-ONLY at /newroot
#   (9p tag "hostroot") and the host's results directory (9p tag "results", the only writable
#   share) at /newroot/run/carton-vm/results; tmpfs on /tmp, /var/tmp, /run; switch_root.
# Stage 2 runs the same file from the host's checkout, in the new root:
#   mount cgroup2 (the only cgroup file system this kernel allows: cgroup_no_v1=all), lay the
#   cgroups out as systemd would, run pytest with the checkout's venv, power off.
#
# Settings come from /carton-vm.env in the initramfs (written by boot.py): REPO, PYTHON,
# GUEST_PATH, PYTEST_ARGS, MSIZE, ROOT_CACHE, BUSYBOX. The guest reports through files in
# the results share: status (key=value lines: timings, pytest_exit), report.jsonl
# (guest_report.py), junit.xml and pytest.log.
# If this script exits, the kernel panics and reboots, and QEMU (-no-reboot) exits: a broken
# guest ends at once instead of waiting for the host's timeout.

RESULTS=/run/carton-vm/results

say() { echo "carton-vm: $*"; }
uptime_s() { read -r up _ < /proc/uptime; echo "$up"; }
die() {
  say "FATAL: $*"
  [ -d "$RESULTS" ] && echo "fatal=$*" >> "$RESULTS/status"
  sync
  $BUSYBOX poweroff -f
  exit 1
}

stage1() {
  /bin/busybox --install -s /bin
  export PATH=/bin BUSYBOX=/bin/busybox
  mount -t proc proc /proc
  mount -t sysfs sysfs /sys
  mount -t devtmpfs devtmpfs /dev
  set -a
  . /carton-vm.env
  set +a
  STAGE1_START=$(uptime_s)
  export STAGE1_START
  say "stage 1 at ${STAGE1_START}s: loading modules"
  while read -r module; do
    insmod "/modules/$module.ko" || die "insmod $module failed"
  done < /modules/order

  opts="trans=virtio,version=9p2000.L,msize=$MSIZE"
  mount -t 9p -o "ro,$opts,cache=$ROOT_CACHE" hostroot /newroot || die "cannot mount the host's / (9p)"
  [ -d "/newroot$REPO" ] || die "no $REPO in the host's / as the guest sees it"
  # A checkout under /tmp, /var/tmp or /run (CI clones wherever it likes) would vanish
  # under the tmpfs mounted below: keep it aside, and put it back on top at its own path.
  case "$REPO" in
    /tmp/*|/var/tmp/*|/run/*)
      mkdir -p /keep && mount --bind "/newroot$REPO" /keep || die "cannot keep $REPO aside" ;;
  esac
  mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /newroot/run || die "tmpfs on /run"
  for dir in tmp var/tmp; do
    mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "/newroot/$dir" || die "tmpfs on /$dir"
  done
  if [ -d /keep ]; then
    mkdir -p "/newroot$REPO" && mount --move /keep "/newroot$REPO" || die "cannot put $REPO back"
  fi
  mkdir -p "/newroot$RESULTS"
  mount -t 9p -o "$opts" results "/newroot$RESULTS" || die "cannot mount the results share (9p)"
  for fs in proc sys dev; do
    mount --move "/$fs" "/newroot/$fs" || die "mount --move /$fs"
  done
  # busybox from the host from here on: switch_root empties the initramfs
  BUSYBOX=$(for b in /newroot/bin/busybox /newroot/usr/bin/busybox; do [ -x "$b" ] && echo "${b#/newroot}" && break; done)
  [ -n "$BUSYBOX" ] || die "no busybox in the host's /"
  export BUSYBOX
  exec switch_root /newroot "$BUSYBOX" sh "$REPO/tests/vm/guest_init.sh" stage2
  die "switch_root failed"
}

stage2() {
  export PATH="$GUEST_PATH"
  bb=$BUSYBOX
  echo "stage1_start=$STAGE1_START" >> "$RESULTS/status"
  echo "stage2_start=$(uptime_s)" >> "$RESULTS/status"
  echo "kernel=$($bb uname -r)" >> "$RESULTS/status"
  $bb mkdir -p /dev/pts /dev/shm /dev/mqueue
  $bb mount -t devpts -o ptmxmode=0666,mode=0620,gid=5 devpts /dev/pts
  $bb mount -t tmpfs -o mode=1777,nosuid,nodev shm /dev/shm
  $bb mount -t mqueue mqueue /dev/mqueue
  $bb hostname carton-vm
  $bb ip link set lo up

  # cgroup v2 as a systemd machine has it: every controller handed down from the root,
  # PID 1 in /init.scope, the tests in a login session's scope (not in the root cgroup).
  cg=/sys/fs/cgroup
  $bb mount -t cgroup2 -o nosuid,nodev,noexec,nsdelegate,memory_recursiveprot cgroup2 $cg \
    || die "cannot mount cgroup2 on $cg"
  for c in $($bb cat $cg/cgroup.controllers); do
    echo "+$c" > $cg/cgroup.subtree_control || say "cannot enable the $c controller"
  done
  $bb mkdir -p $cg/init.scope $cg/user.slice/user-0.slice/session-1.scope
  echo $$ > $cg/init.scope/cgroup.procs || die "cannot move PID 1 to /init.scope"
  for c in $($bb cat $cg/user.slice/cgroup.controllers); do
    echo "+$c" > $cg/user.slice/cgroup.subtree_control
  done

  cd "$REPO" || die "no $REPO"
  [ -x "$PYTHON" ] || die "no $PYTHON in the host's / as the guest sees it"
  export HOME=/tmp TMPDIR=/tmp PYTHONDONTWRITEBYTECODE=1 CARTON_IN_VM=1
  export CARTON_VM_REPORT="$RESULTS/report.jsonl" PYTHONPATH="$REPO/tests/vm${PYTHONPATH:+:$PYTHONPATH}"
  eval "set -- $PYTEST_ARGS"
  start=$(uptime_s)
  echo "pytest_start=$start" >> "$RESULTS/status"
  say "booted in ${start}s (kernel $($bb uname -r)); running pytest $*"
  {
    (
      echo 0 > $cg/user.slice/user-0.slice/session-1.scope/cgroup.procs
      if [ -n "$GUEST_COMMAND" ]; then
        exec sh -c "$GUEST_COMMAND"
      fi
      exec "$PYTHON" -m pytest -p no:cacheprovider -p guest_report -rfEs --continue-on-collection-errors \
        --junitxml="$RESULTS/junit.xml" "$@"
    )
    echo "pytest_exit=$?" >> "$RESULTS/status"
  } 2>&1 | $bb tee "$RESULTS/pytest.log"
  echo "pytest_end=$(uptime_s)" >> "$RESULTS/status"
  cd /
  $bb sync
  echo "poweroff=$(uptime_s)" >> "$RESULTS/status"
  $bb umount "$RESULTS"
  $bb poweroff -f
}

if [ "$1" = stage2 ]; then
  stage2
else
  stage1
fi
die "init fell through"
