"""Where the coordinator may send requests of its own (webhooks): public addresses only, unless
the operator lists a network (``webhook_allowed_networks``). Without this an admin could make
the coordinator POST to its database, its Redis or a cloud metadata service, and read the
answers (or the connection errors) back: server-side request forgery (OWASP SSRF; the
special-purpose address registries of RFC 6890 say which addresses are not public).

A host name is checked through what it resolves to, at registration and again at delivery,
where the request then goes to the very address that was checked (DNS rebinding: the name may
resolve elsewhere the second time)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from coordinator.errors import TargetRefused

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]  # (host, port) -> IP addresses, as text
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: IPv4 inside IPv6
KINDS = (("a loopback", "is_loopback"), ("a link-local", "is_link_local"),
         ("an unspecified", "is_unspecified"), ("a multicast", "is_multicast"),
         ("a reserved", "is_reserved"), ("a private", "is_private"))



@dataclass(frozen=True)
class Target:
    """A checked destination: connect to ``address``, speak to ``host`` (Host header, SNI)."""

    host: str
    address: Address
    port: int


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host`` (getaddrinfo: IPv4 and IPv6)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise TargetRefused(f"{host} does not resolve") from None
    return [str(info[4][0]) for info in infos]


def literal(host: str) -> Address | None:
    """The address a host written as an IP literal means, in any spelling a resolver would
    accept (``0x7f000001``, ``2130706433``, ``127.1``, ``0177.0.0.1``, ``[::1]``); None for a
    name. inet_aton is what C resolvers use, so no spelling slips past as a "name"."""
    bare = host.strip("[]")
    try:
        return ipaddress.ip_address(bare.split("%")[0])
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(bare))
    except (OSError, ValueError):
        return None


def embedded(address: Address) -> list[Address]:
    """The address and any IPv4 address carried inside it (IPv4-mapped, 6to4, Teredo,
    NAT64), each of which is where the packets may really go."""
    found: list[Address] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        inner = [address.ipv4_mapped, address.sixtofour,
                 address.teredo[1] if address.teredo else None,
                 ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in NAT64 else None]
        found += [a for a in inner if a is not None]
    return found


def refusal(address: Address, allowed: Sequence[Network]) -> str | None:
    """What ``address`` is that the coordinator may not send to ("a loopback address"...);
    None: it may. An operator-listed network admits the address (or the IPv4 address an
    IPv4-mapped one stands for)."""
    direct = (address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None) \
        or address
    if any(direct in network for network in allowed if network.version == direct.version):
        return None
    for part in reversed(embedded(address)):  # what the packets really reach, first
        carried = "" if part is address else f"an IPv6 address carrying {part}, "
        kind = next((kind for kind, test in KINDS if getattr(part, test)), None)
        if kind is not None:
            return f"{carried}{kind} address"
        if not part.is_global:
            return f"{carried}not a public address"
    return None


def check(host: str, port: int, allowed: Sequence[Network], resolve: Resolver) -> Target:
    """Resolve ``host`` once and check every address it gives: a name with one bad address is
    refused (the client might pick that one). Returns the first address, to connect to."""
    fixed = literal(host)
    if fixed is not None:
        addresses: list[Address] = [fixed]
    else:
        try:
            addresses = [ipaddress.ip_address(a.split("%")[0]) for a in resolve(host, port)]
        except ValueError as exc:
            raise TargetRefused(f"{host} resolves to something that is not an address") \
                from exc
    if not addresses:
        raise TargetRefused(f"{host} does not resolve")
    for address in addresses:
        what = refusal(address, allowed)
        if what is not None:
            # a name's addresses are not shown: the admin would map the inside's DNS with them
            named = f"{address} is" if fixed is not None else f"{host} resolves to"
            raise TargetRefused(f"{named} {what}; only public addresses, or networks the "
                                "operator lists in webhook_allowed_networks, may be reached")
    return Target(host.strip("[]"), addresses[0], port)
