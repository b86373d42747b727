"""Boot a throw-away QEMU guest whose only cgroup layout is v2, and run pytest inside it.

The guest has no disk. Its kernel is the host's Debian ``linux-image-amd64``
(``/boot/vmlinuz-VERSION``, booted with ``cgroup_no_v1=all``), its initramfs a
small archive built here at every run: busybox, the few modules that mount a
9p file system, and ``guest_init.sh`` as ``/init``. The init mounts the host's
``/`` over 9p, **read-only**, switches to it and runs the checkout's own venv
Python on the tests asked for. Its only writable way out is a second 9p share,
the ``results`` directory on the host, where the guest writes a JSON line per
test report (``guest_report.py``), a JUnit XML file, the pytest output and its
exit status; then it powers off.

    run = boot.run(["tests/v2"], workdir)   # conftest.py does this; boot.py imports as `boot`
    run.reports                             # {nodeid: {"outcome": ..., "longrepr": ...}}
    run.timings()                           # {"boot": s, "tests": s, "total": s}

From a shell (the console is shown as the guest runs; the work directory is kept)::

    .venv/bin/python tests/vm/boot.py [PYTEST ARGS]     # default: tests/v2
    .venv/bin/python tests/vm/boot.py --sh 'mount; cat /proc/self/cgroup'

Environment:
  CARTON_VM_KERNEL=VERSION|PATH   the kernel (default: the newest /boot/vmlinuz-* with modules)
  CARTON_VM_QEMU=PATH             qemu-system-x86_64
  CARTON_VM_TIMEOUT=SECONDS       kill the guest after this long (default 480)
  CARTON_VM_MEMORY=MB, CARTON_VM_CPUS=N   the guest's size (default 2048, 2)
  CARTON_VM_ACCEL=kvm             KVM instead of TCG (software emulation), where KVM works
  CARTON_VM_PVH=0                 boot the compressed bzImage instead of the extracted vmlinux
  CARTON_VM_DEBUG=1               the kernel's own messages on the console (no ``quiet``)
"""

import glob
import json
import lzma
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
GUEST_INIT = os.path.join(HERE, "guest_init.sh")
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")

# What the initramfs needs to mount the host's root: 9p over virtio on PCI. Their dependencies
# (netfs, fscache, 9pnet, virtio, virtio_ring, ...) are added from modules.dep. Anything else
# the tests need is loaded later from the host's /lib/modules, which the guest sees over 9p.
MODULES = ("virtio_pci", "9pnet_virtio", "9p")

# 9p2000.L with the biggest message size the kernel's virtio transport takes (PAGE_SIZE * 125),
# and page cache for the read-only root (nothing changes it while the guest runs).
# (cache=mmap or none: no page cache, Python's imports are 5-10 times slower; measured.)
MSIZE = 512000
ROOT_CACHE = "loose"

# The guest's own empty, writable directories, over the host's (guest_init.sh).
TMPFS_IN_GUEST = ("/tmp/", "/var/tmp/", "/run/")

DEFAULT_TIMEOUT = 480
KERNEL_CMDLINE = (
    "console=ttyS0 quiet loglevel=3 panic=-1 "
    # cgroup v2 only: no v1 hierarchy can even be mounted. The systemd option does nothing
    # here (there is no systemd); it is what a v2-only host is booted with.
    "cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 "
    # no probing for hardware the guest does not have
    "i8042.noaux i8042.nokbd i8042.nopnp 8250.nr_uarts=1 "
    "random.trust_cpu=on tsc=reliable no_timer_check "
    # no page table isolation and friends: every syscall costs much more under TCG with them
    "mitigations=off"
)


class Unavailable(Exception):
    """What the VM needs is not on this machine (the message says what to install)."""


class BootError(Exception):
    """The guest did not run the tests: the message has the reason and the console's last lines."""


# -- what the host has ------------------------------------------------------------------------


def _version_key(version):
    return [int(p) if p.isdigit() else p for p in re.split(r"[.\-+~]", version)]


def find_kernel():
    """``(vmlinuz, version)``: ``$CARTON_VM_KERNEL``, or the newest kernel that has its modules."""
    wanted = os.environ.get("CARTON_VM_KERNEL")
    if wanted:
        path = wanted if os.sep in wanted else f"/boot/vmlinuz-{wanted}"
        version = os.path.basename(path).removeprefix("vmlinuz-")
        if not os.path.exists(path) or not os.path.isdir(f"/lib/modules/{version}"):
            raise Unavailable(f"CARTON_VM_KERNEL={wanted}: no {path} with /lib/modules/{version}")
        return path, version
    found = []
    for path in glob.glob("/boot/vmlinuz-*"):
        version = os.path.basename(path).removeprefix("vmlinuz-")
        if os.path.exists(f"/lib/modules/{version}/modules.dep"):
            found.append((version, path))
    if not found:
        raise Unavailable("no kernel for the VM: no /boot/vmlinuz-VERSION with /lib/modules/VERSION "
                          "(install linux-image-amd64: scripts/vm-deps.sh)")
    version, path = max(found, key=lambda vp: _version_key(vp[0]))
    if not os.access(path, os.R_OK):
        raise Unavailable(f"{path} is not readable (run as root)")
    return path, version


def find_qemu():
    qemu = shutil.which(os.environ.get("CARTON_VM_QEMU") or "qemu-system-x86_64")
    if not qemu:
        raise Unavailable(f"{os.environ.get('CARTON_VM_QEMU') or 'qemu-system-x86_64'} not found "
                          "(install qemu-system-x86: scripts/vm-deps.sh)")
    return qemu


def find_busybox():
    for path in BUSYBOX_CANDIDATES:
        if os.path.exists(path):
            return path
    raise Unavailable("busybox not found (install busybox-static)")


def check():
    """Raise ``Unavailable`` unless this machine can boot the VM."""
    if os.environ.get("CARTON_IN_VM") == "1":
        raise Unavailable("this is the VM already")
    if os.uname().machine != "x86_64":
        raise Unavailable(f"the VM harness is for x86_64 hosts, not {os.uname().machine}")
    find_qemu()
    find_busybox()
    # The checkout itself may be under them (guest_init.sh puts it back on top); the
    # interpreter outside the checkout may not.
    for path in (sys.executable,):
        if os.path.realpath(path).startswith(TMPFS_IN_GUEST) and not \
                os.path.realpath(path).startswith(os.path.realpath(REPO) + os.sep):
            raise Unavailable(f"{path} is under {', '.join(TMPFS_IN_GUEST)}, "
                              "where the guest mounts empty tmpfs file systems")
    _, version = find_kernel()
    module_order(version)


def extract_vmlinux(vmlinuz, target):
    """Write the uncompressed kernel (an ELF file that QEMU boots through its PVH entry) to ``target``.

    A bzImage decompresses itself when it boots, which under TCG costs seconds; Python does it
    in a fraction of one. Returns ``vmlinuz`` itself if its payload is not xz or gzip.
    """
    with open(vmlinuz, "rb") as f:
        data = f.read()
    for magic, decompress in ((b"\xfd7zXZ\x00", lambda d: lzma.LZMADecompressor().decompress(d)),
                              (b"\x1f\x8b\x08\x00", _gunzip)):
        at = data.find(magic)
        if at < 0:
            continue
        try:
            elf = decompress(data[at:])
        except (lzma.LZMAError, OSError, EOFError):
            continue
        if elf[:4] == b"\x7fELF":
            with open(target, "wb") as f:
                f.write(elf)
            return target
    return vmlinuz


def _gunzip(data):
    import zlib

    return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)


# -- the initramfs ----------------------------------------------------------------------------


def _module_name(path):
    name = os.path.basename(path)
    return name.split(".ko")[0].replace("-", "_")


def module_order(version, wanted=MODULES):
    """The module files to load, dependencies first, as paths relative to /lib/modules/VERSION.

    Built-in modules (``modules.builtin``) are left out: there is nothing to load.
    """
    base = f"/lib/modules/{version}"
    deps, files = {}, {}
    with open(f"{base}/modules.dep") as f:
        for line in f:
            module, _, rest = line.partition(":")
            files[_module_name(module)] = module
            deps[module] = rest.split()
    builtin = set()
    try:
        with open(f"{base}/modules.builtin") as f:
            builtin = {_module_name(line.strip()) for line in f}
    except FileNotFoundError:
        pass
    order = []

    def add(module):
        if module in order:
            return
        for dep in deps.get(module, ()):
            add(dep)
        order.append(module)

    for name in wanted:
        name = name.replace("-", "_")
        if name in builtin:
            continue
        if name not in files:
            raise Unavailable(f"kernel {version} has no module {name} (and it is not built in)")
        add(files[name])
    return order


def _module_bytes(path):
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".xz"):
        return lzma.decompress(data)  # busybox insmod may not read xz; the kernel reads plain .ko
    if path.endswith(".zst"):
        zstd = shutil.which("zstd")
        if not zstd:
            raise Unavailable(f"{path} is zstd-compressed: install zstd")
        return subprocess.run([zstd, "-dc", path], capture_output=True, check=True).stdout
    return data


class Cpio:
    """A ``newc`` cpio archive, the format the kernel unpacks as an initramfs (no cpio tool needed)."""

    def __init__(self):
        self.out = bytearray()
        self.ino = 1

    def _entry(self, name, mode, data=b"", rdev=(0, 0)):
        name_bytes = name.encode() + b"\0"
        fields = (self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_bytes), 0)
        self.ino += 1
        self.out += b"070701" + b"".join(b"%08x" % v for v in fields) + name_bytes
        self.out += b"\0" * (-len(self.out) % 4)
        self.out += data
        self.out += b"\0" * (-len(self.out) % 4)

    def dir(self, name, mode=0o755):
        self._entry(name, 0o040000 | mode)

    def file(self, name, data, mode=0o644):
        self._entry(name, 0o100000 | mode, data)

    def symlink(self, name, target):
        self._entry(name, 0o120000 | 0o777, target.encode())

    def chardev(self, name, major, minor, mode=0o600):
        self._entry(name, 0o020000 | mode, rdev=(major, minor))

    def finish(self):
        self._entry("TRAILER!!!", 0)
        return bytes(self.out)


def build_initramfs(path, version, config):
    """Write the initramfs to ``path``: busybox, modules, ``/init`` and ``/carton-vm.env``.

    ``config`` is a dict of shell variables for the init (written quoted).
    """
    archive = Cpio()
    for d in ("bin", "dev", "proc", "sys", "newroot", "modules"):
        archive.dir(d)
    archive.chardev("dev/console", 5, 1)
    with open(find_busybox(), "rb") as f:
        archive.file("bin/busybox", f.read(), 0o755)
    archive.symlink("bin/sh", "busybox")
    names = []
    for module in module_order(version):
        name = _module_name(module)
        archive.file(f"modules/{name}.ko", _module_bytes(f"/lib/modules/{version}/{module}"))
        names.append(name)
    archive.file("modules/order", "".join(n + "\n" for n in names).encode())
    with open(GUEST_INIT, "rb") as f:
        archive.file("init", f.read(), 0o755)
    env = "".join(f"{key}={shlex.quote(str(value))}\n" for key, value in config.items())
    archive.file("carton-vm.env", env.encode())
    with open(path, "wb") as f:
        f.write(archive.finish())


# -- running the guest ------------------------------------------------------------------------


class Run:
    """What a guest run left in the results directory."""

    def __init__(self, workdir, results, console, wall, kernel):
        self.workdir = workdir
        self.results = results
        self.console = console
        self.wall = wall
        self.kernel = kernel
        self.problem = None  # why the guest did not finish, if it did not
        self.status = _read_status(os.path.join(results, "status"))
        self.reports = read_reports(os.path.join(results, "report.jsonl"))

    @property
    def exit_status(self):
        """The guest pytest's exit status, or None if it never finished."""
        value = self.status.get("pytest_exit")
        return int(value) if value is not None else None

    def timings(self):
        """Seconds: ``boot`` (QEMU start to the guest's pytest start), ``tests``, ``total``.

        The guest's clock starts with its kernel; what came before it (QEMU, firmware,
        loading the kernel) is the host's wall time minus the guest's uptime at power-off.
        """
        s = {k: float(v) for k, v in self.status.items() if k in (
            "stage1_start", "pytest_start", "pytest_end", "poweroff")}
        out = {}
        if "pytest_start" in s and "poweroff" in s:
            out["boot"] = self.wall - s["poweroff"] + s["pytest_start"]
        if "pytest_start" in s and "pytest_end" in s:
            out["tests"] = s["pytest_end"] - s["pytest_start"]
        out["total"] = self.wall
        return out

    def console_tail(self, lines=40):
        try:
            with open(self.console, errors="replace") as f:
                text = "".join(f.readlines()[-lines:])
        except OSError:
            return "(no console log)"
        return re.sub(r"\x1b(\[[0-9;?]*[A-Za-z]|.)", "", text)  # the firmware's terminal codes


def _read_status(path):
    status = {}
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                if key:
                    status[key] = value
    except FileNotFoundError:
        pass
    return status


def read_reports(path):
    """``{nodeid: report}`` from ``guest_report.py``'s JSON lines (the last line of a test wins).

    A report is ``{"nodeid", "outcome", "longrepr", "duration"}``; ``outcome`` is ``passed
    failed error skipped xfailed xpassed``, or ``running`` for the test the guest was in when
    it stopped. A line cut short by a crash is ignored.
    """
    reports = {}
    try:
        with open(path) as f:
            lines = f.readlines()
    except FileNotFoundError:
        return reports
    for line in lines:
        try:
            report = json.loads(line)
        except ValueError:
            continue
        reports[report["nodeid"]] = report
    return reports


def qemu_argv(qemu, kernel, initrd, results, console):
    """The QEMU command line: a ``pc`` machine with no devices but a serial port and two 9p shares.

    Why not ``microvm`` (no PCI, no BIOS: a second faster to boot)? It has no HPET and no ACPI
    PM timer, and under TCG on a busy host the kernel's TSC calibration against the PIT fails
    ("tsc: No reference (HPET/PMTIMER) available") and the boot hangs: every time with two
    busy CPUs on the host, measured. ``pc`` calibrates against its HPET.
    """
    memory = os.environ.get("CARTON_VM_MEMORY", "2048")
    cpus = os.environ.get("CARTON_VM_CPUS", "2")
    accel = os.environ.get("CARTON_VM_ACCEL", "tcg")
    if accel == "tcg":
        accel = "tcg,thread=multi,tb-size=256"
    cmdline = KERNEL_CMDLINE
    if os.environ.get("CARTON_VM_DEBUG") == "1":  # the kernel's messages on the console too
        cmdline = cmdline.replace("quiet loglevel=3", "loglevel=7 ignore_loglevel")
    return [
        qemu, "-M", "pc", "-accel", accel, "-cpu", "max", "-m", memory, "-smp", cpus,
        "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
        "-serial", f"file:{console}", "-monitor", "none",
        "-kernel", kernel, "-initrd", initrd, "-append", cmdline,
        # the host's /, read-only twice over: QEMU refuses writes, and the guest mounts it ro
        "-fsdev", "local,id=hostroot,path=/,security_model=passthrough,readonly=on,multidevs=remap",
        "-device", "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot",
        "-fsdev", f"local,id=results,path={results},security_model=passthrough",
        "-device", "virtio-9p-pci,fsdev=results,mount_tag=results",
    ]


def run(pytest_args, workdir, timeout=None, python=None, echo=None, command=None):
    """Boot the guest, run ``python -m pytest PYTEST_ARGS`` in the checkout there, power off.

    ``workdir`` (an empty or new directory) receives ``console.log``, ``qemu.argv``,
    ``qemu.log`` and ``results/`` (the initramfs and kernel made there are removed at the
    end). Returns a ``Run``; if the guest stopped after pytest started, ``Run.problem`` says
    why. Raises ``BootError`` if it did not get as far as running pytest, ``Unavailable`` if
    the machine lacks QEMU, the kernel or busybox.
    ``echo``: a file to copy the console to while the guest runs (e.g. sys.stdout).
    ``command``: a shell command to run instead of pytest (to look around in the guest).
    """
    timeout = timeout or float(os.environ.get("CARTON_VM_TIMEOUT", DEFAULT_TIMEOUT))
    python = python or sys.executable
    qemu = find_qemu()
    kernel, version = find_kernel()
    os.makedirs(workdir, exist_ok=True)
    results = os.path.join(workdir, "results")
    os.makedirs(results, exist_ok=True)
    console = os.path.join(workdir, "console.log")
    initrd = os.path.join(workdir, "initrd")
    build_initramfs(initrd, version, {
        "REPO": REPO,
        "PYTHON": python,
        # the venv's bin first: the tests call `carton` from there
        "GUEST_PATH": os.path.dirname(python) + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"
                      ":/sbin:/bin",
        "PYTEST_ARGS": shlex.join(pytest_args),
        "MSIZE": MSIZE,
        "ROOT_CACHE": ROOT_CACHE,
        "GUEST_COMMAND": command or "",
    })
    image = kernel
    if os.environ.get("CARTON_VM_PVH", "1") == "1":
        image = extract_vmlinux(kernel, os.path.join(workdir, "vmlinux"))
    argv = qemu_argv(qemu, image, initrd, results, console)
    with open(os.path.join(workdir, "qemu.argv"), "w") as f:
        f.write(shlex.join(argv) + "\n")
    start = time.monotonic()
    with open(os.path.join(workdir, "qemu.log"), "wb") as qemu_log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=qemu_log, stderr=subprocess.STDOUT)
    timed_out = False
    try:
        timed_out = _wait(proc, start + timeout, console, echo)
    finally:
        if proc.poll() is None:
            proc.kill()  # our own QEMU, by its PID
            proc.wait()
    wall = time.monotonic() - start
    for big in (initrd, os.path.join(workdir, "vmlinux")):  # ~70 MB, and made again in a second
        if os.path.exists(big):
            os.unlink(big)
    result = Run(workdir, results, console, wall, f"{kernel} ({version})")
    if result.exit_status is None:
        with open(os.path.join(workdir, "qemu.log"), errors="replace") as f:
            qemu_out = f.read().strip()
        why = (f"timed out after {timeout:.0f} s (CARTON_VM_TIMEOUT)" if timed_out
               else f"QEMU exited with status {proc.returncode}")
        result.problem = (f"the guest did not finish its tests: {why}\n"
                          + (f"QEMU said: {qemu_out}\n" if qemu_out else "")
                          + f"the last lines of its console ({console}):\n{result.console_tail()}")
        if "pytest_start" not in result.status:
            raise BootError(result.problem)
    return result


def _wait(proc, deadline, console, echo):
    """Wait for QEMU to exit, copying the console to ``echo``; True if the deadline passed."""
    offset = 0
    while True:
        try:
            proc.wait(timeout=0.2)
            done = True
        except subprocess.TimeoutExpired:
            done = False
        if echo is not None:
            try:
                with open(console, "rb") as f:
                    f.seek(offset)
                    chunk = f.read()
                offset += len(chunk)
                echo.write(chunk.decode(errors="replace"))
                echo.flush()
            except FileNotFoundError:
                pass
        if done:
            return False
        if time.monotonic() > deadline:
            return True


def main(argv):
    """``python tests/vm/boot.py [PYTEST ARGS]``: run them in the guest, show the console.

    ``python tests/vm/boot.py --sh 'COMMAND'`` runs a shell command there instead.
    """
    import tempfile

    command = None
    if argv[:1] == ["--sh"]:
        command, argv = argv[1], argv[2:]
    workdir = tempfile.mkdtemp(prefix="carton-vm-")
    try:
        result = run(argv or ["tests/v2"], workdir, echo=sys.stdout, command=command)
    except (Unavailable, BootError) as e:
        print(f"carton-vm: {e}", file=sys.stderr)
        return 2
    if result.problem:
        print(f"\ncarton-vm: {result.problem}", file=sys.stderr)
    t = result.timings()
    print(f"\ncarton-vm: {result.kernel}; " + ", ".join(f"{k} {v:.1f} s" for k, v in t.items())
          + f"; results in {workdir}", file=sys.stderr)
    return result.exit_status if result.exit_status is not None else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
