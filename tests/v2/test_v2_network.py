"""Bridge networking on a stock distribution kernel (the cgroup v2 guest's Debian kernel).

The host's tests (tests/integration/test_network.py) prove networking in
depth; this one proves that the same road works on another kernel, whose
bridge, veth and nf_tables code are modules loaded on first use: a
container on the default bridge reaches its gateway, a published port
answers on the machine's 127.0.0.1, and the bridge stays up after the
container until ``carton network prune`` takes it down.
"""

import os
import random
import subprocess
import time
import urllib.request


def test_bridge_and_a_published_port(carton, rootfs):
    port = random.randrange(20000, 30000)
    proc = carton.popen("run", "-p", f"{port}:80", rootfs, "sh", "-c",
                        "trap 'exit 0' TERM; ping -c1 -W5 10.87.0.1 >/dev/null && "
                        "echo gateway-ok; mkdir /tmp/www; echo v2-bridge > /tmp/www/index.html; "
                        "httpd -f -p 80 -h /tmp/www & wait",
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        body, deadline = None, time.monotonic() + 60  # an emulated CPU: be patient
        while body is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    body = r.read().decode()
            except OSError:
                time.sleep(0.5)
        assert body is not None and "v2-bridge" in body
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=60)
    assert "gateway-ok" in out, err
    # As docker0: the bridge outlives its last container, until prune takes it down.
    assert os.path.exists("/sys/class/net/carton0")
    r = carton("network", "prune", "-f")
    assert r.returncode == 0 and r.stdout.splitlines()[-1] == "carton0", r.stderr
    assert not os.path.exists("/sys/class/net/carton0")
