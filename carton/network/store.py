"""What the networks hand out right now: addresses, published ports. One file, one lock.

``$CARTON_NETWORK_DIR/state.json`` (default /run/carton-network: runtime
state, gone at reboot with the bridges it describes) holds, per network that
is up, its bridge and its leases (address -> container; none when the last
container has left and the bridge stays up), and the list of published
ports. Every change is made under an exclusive flock(2) on
``lock`` beside it, read-modify-write, and saved (temporary file + rename)
*before* the links and rules it describes are made: whatever Carton may have
made on the host is always written down somewhere, so ``delete`` and the
sweep after a crash can find it and take it away.

One lock for all networks, because published ports and ``ip_forward`` are
the host's, not one network's; these sections are short.
"""

import fcntl
import os

from .. import jsonc


def run_dir():
    return os.environ.get("CARTON_NETWORK_DIR") or "/run/carton-network"


class Store:
    """``with Store() as store:`` — the state (``store.data``), locked until the block ends;
    ``store.save()`` writes it (call it before touching the host)."""

    def __init__(self):
        self.path = os.path.join(run_dir(), "state.json")
        self.data = None
        self._lock = None
        self._dirty = False

    def __enter__(self):
        os.makedirs(run_dir(), 0o700, exist_ok=True)
        self._lock = os.open(os.path.join(run_dir(), "lock"),
                             os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        try:
            with open(self.path) as f:
                self.data = jsonc.loads(f.read())
        except FileNotFoundError:
            self.data = {}
        self.data.setdefault("networks", {})
        self.data.setdefault("ports", [])
        return self

    def save(self):
        """Write the state now (record before make: call this before touching the host)."""
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(jsonc.dumps(self.data))
        os.rename(tmp, self.path)

    def __exit__(self, *exc):
        os.close(self._lock)  # releases the flock
        self._lock = None

    # -- views ------------------------------------------------------------------

    def network(self, name):
        """The runtime record of a network, or None if it is not up (no bridge made)."""
        return self.data["networks"].get(name)

    def leases(self):
        """Every lease, as (network name, address, lease) triples."""
        for name, net in self.data["networks"].items():
            for address, lease in net["leases"].items():
                yield name, address, lease
