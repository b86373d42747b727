"""The three files docker gives every container: /etc/hostname, /etc/hosts, /etc/resolv.conf.

They are written in the container's state directory on the host and
bind-mounted over the rootfs's own, so the rootfs itself is not edited (and
``--read-only`` still lets the container see its own name).
"""

HOSTS = """127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
ff00::0\tip6-mcastprefix
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
"""

# docker's fallback when the host has no resolver a container could reach.
FALLBACK_NAMESERVERS = ("8.8.8.8", "8.8.4.4")


def hostname(name):
    return name + "\n"


def hosts(name, address=None, aliases=(), peers=(), extra=()):
    """docker's /etc/hosts; the container's own name maps to its address when it has one.

    ``peers`` are (address, [names]) of the other containers on a named
    network: that is how they find each other by name. ``extra`` are
    ``--add-host`` entries, (name, address) pairs, after the standard lines.
    """
    text = HOSTS
    for host, ip in extra:
        text += f"{ip}\t{host}\n"
    if address:
        text += "\t".join([address, name, *aliases]) + "\n"
    for peer, names in peers:
        if names:
            text += "\t".join([peer, *names]) + "\n"
    return text


def resolv_conf(host_text, nameservers=(), search=()):
    """The host's resolv.conf, minus nameservers on loopback; ``--dns``/``--dns-search`` win.

    A nameserver at 127.0.0.53 (systemd-resolved) or ::1 means the *host's*
    loopback, which a container with its own network namespace cannot reach.
    docker drops those lines, and falls back to public resolvers if none is left.
    Given ``nameservers`` replace the host's, and ``search`` its search domains,
    as docker's ``--dns`` and ``--dns-search`` do; the rest (options) is kept.
    """
    lines, servers = [], 0
    for line in host_text.splitlines():
        words = line.split()
        if words[:1] == ["nameserver"] and len(words) > 1:
            if _is_loopback(words[1]) or nameservers:
                continue
            servers += 1
        if words[:1] in (["search"], ["domain"]) and search:
            continue
        lines.append(line)
    if search:
        lines.insert(0, "search " + " ".join(search))
    lines += [f"nameserver {ip}" for ip in nameservers]
    if not servers and not nameservers:
        lines += [f"nameserver {ip}" for ip in FALLBACK_NAMESERVERS]
    return "\n".join(lines) + "\n"


def _is_loopback(address):
    return address.startswith("127.") or address.split("%")[0] == "::1"
