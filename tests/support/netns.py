"""Hosts of a multi-host test: Linux network namespaces joined by veth pairs, made by the test
and removed with it (needs root and iproute2). Each host reaches another only over the link
between them; a link can be cut (its interface down) and restored."""

from __future__ import annotations

import random
import subprocess
import uuid
from dataclasses import dataclass, field


def ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], check=False, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


@dataclass
class Host:
    name: str  # the namespace's name

    @property
    def within(self) -> tuple[str, ...]:
        """The prefix that runs a command on this host."""
        return ("ip", "netns", "exec", self.name)

    def ip(self, *args: str) -> None:
        ip("-n", self.name, *args)


@dataclass(frozen=True)
class Link:
    a_address: str  # at the first host (the test's own, or a namespace)
    b: Host
    b_interface: str
    b_address: str

    def set(self, up: bool) -> None:
        """Bring ``b``'s end up or down (a cable pulled at that host)."""
        self.b.ip("link", "set", self.b_interface, "up" if up else "down")


@dataclass
class Network:
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:5])
    octet: int = field(default_factory=lambda: random.randint(100, 250))  # 10.<octet>.<link>.x
    hosts: list[Host] = field(default_factory=list)

    def host(self, role: str) -> Host:
        made = Host(f"sc-{self.tag}-{role}")
        ip("netns", "add", made.name)
        self.hosts.append(made)
        made.ip("link", "set", "lo", "up")
        return made

    def link(self, a: Host | None, b: Host, index: int) -> Link:
        """A veth pair between ``a`` (None: the test's own host) and ``b``: a /24 of their own,
        .1 at ``a`` and .2 at ``b``."""
        ends = f"v{self.tag}{index}a", f"v{self.tag}{index}b"
        ip("link", "add", ends[0], "type", "veth", "peer", "name", ends[1])
        addresses = f"10.{self.octet}.{index}.1", f"10.{self.octet}.{index}.2"
        for end, host, address in zip(ends, (a, b), addresses, strict=True):
            if host is not None:
                ip("link", "set", end, "netns", host.name)
            prefix = ("-n", host.name) if host else ()
            ip(*prefix, "addr", "add", f"{address}/24", "dev", end)
            ip(*prefix, "link", "set", end, "up")
        return Link(addresses[0], b, ends[1], addresses[1])

    def remove(self) -> None:
        """Delete every namespace (their veth ends go with them); run after their processes
        are stopped."""
        for host in self.hosts:
            subprocess.run(["ip", "netns", "del", host.name], check=False, capture_output=True,
                           timeout=30)
        self.hosts.clear()
