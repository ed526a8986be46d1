"""A real MQTT broker for the tests: Debian's mosquitto on a free port, with a generated
configuration (a TLS listener with a test CA, a password file from ``mosquitto_passwd``, no
anonymous clients, sessions kept across a restart), that a test can stop and start again on the
same port; and a real subscriber that records what arrives."""

from __future__ import annotations

import getpass
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from privacy.pki import Issued, issue, make_ca
from tests.support.served import free_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
USER, PASSWORD = "coordinator", "broker-test-password"
DEVICE, DEVICE_PASSWORD = "lamp-controller", "device-test-password"


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Broker:
    """mosquitto on ``port`` (TLS, ``localhost`` in its certificate), users USER and DEVICE
    (both may read and write any topic); ``devices``: city devices' users (id: password), each
    held by the ACL docs/mqtt.md gives to its own ``city/devices/<id>/`` topics."""

    def __init__(self, folder: Path, devices: dict[str, str] | None = None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.port = folder, free_port()
        self.ca: Issued = make_ca(folder / "ca", "mqtt test CA")
        server = issue(self.ca, folder / "server", "broker", ["localhost"])
        passwords = folder / "passwords"
        users = [(USER, PASSWORD), (DEVICE, DEVICE_PASSWORD), *(devices or {}).items()]
        for n, (user, password) in enumerate(users):
            subprocess.run(["mosquitto_passwd", "-b", *(["-c"] if n == 0 else []),
                            str(passwords), user, password], check=True, capture_output=True)
        acl = folder / "acl"
        acl.write_text("".join(f"pattern {how} city/devices/%u/{channel}\n" for how, channel in (
            ("write", "sos"), ("write", "reading"), ("write", "state"), ("read", "command")))
            + "".join(f"user {u}\ntopic readwrite #\n" for u in (USER, DEVICE)))
        self.config = folder / "mosquitto.conf"
        self.config.write_text(
            # started as root it would drop to the mosquitto user, who cannot read the test's
            # folder; started as anyone else this line is ignored
            f"user {getpass.getuser()}\n"
            f"persistence true\npersistence_location {folder}/\nallow_anonymous false\n"
            f"password_file {passwords}\nacl_file {acl}\n"
            f"listener {self.port} 127.0.0.1\n"
            f"cafile {self.ca.certificate}\ncertfile {server.certificate}\n"
            f"keyfile {server.key}\n")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(200):
            if _answers(self.port):
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.process.stderr.read()!r}")  # type: ignore[union-attr]
            time.sleep(0.02)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def settings(self, **changes: Any) -> dict[str, Any]:
        """The coordinator's ``mqtt`` settings for this broker."""
        return {"host": "localhost", "port": self.port, "ca_file": str(self.ca.certificate),
                "username": USER, "password": PASSWORD, "client_id": f"coordinator-{self.port}",
                "topic_prefix": "city", "publish_timeout_seconds": 2.0, **changes}


@dataclass
class Subscriber:
    """A device listening to ``topic`` (QoS 1), reconnecting when the broker comes back;
    ``clean=False``: with a session the broker keeps while it is away (and across its restart)."""

    broker: Broker
    topic: str
    clean: bool = True
    got: list[tuple[str, Any, bool]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # when each of ``got`` arrived (epoch s)
    subscribed: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"device-{id(self)}",
                             clean_session=self.clean)
        client.username_pw_set(DEVICE, DEVICE_PASSWORD)
        client.tls_set(ca_certs=str(self.broker.ca.certificate), cert_reqs=ssl.CERT_REQUIRED)
        client.reconnect_delay_set(min_delay=1, max_delay=1)
        client.on_connect = lambda c, *_: c.subscribe(self.topic, qos=1)
        client.on_subscribe = lambda *_: self.subscribed.set()
        client.on_disconnect = lambda *_: self.subscribed.clear()
        client.on_message = self._message
        self.client = client
        client.connect_async("localhost", self.broker.port)
        client.loop_start()

    def _message(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        with self.arrived:
            self.times.append(time.time())
            self.got.append((message.topic, json.loads(message.payload.decode())
                             if message.payload.startswith(b"{") else message.payload.decode(),
                             bool(message.retain)))
            self.arrived.notify_all()

    def wait_for(self, count: int, timeout: float = 10) -> list[tuple[str, Any, bool]]:
        """The first ``count`` messages, once they are here (fewer after ``timeout``)."""
        return self.wait_until(lambda got: len(got) >= count, timeout)

    def wait_until(self, done: Callable[[list[tuple[str, Any, bool]]], bool],
                   timeout: float = 10) -> list[tuple[str, Any, bool]]:
        """What arrived, once ``done`` says it is enough (or after ``timeout``)."""
        with self.arrived:
            self.arrived.wait_for(lambda: done(self.got), timeout)
            return list(self.got)

    def ready(self, timeout: float = 15) -> None:
        assert self.subscribed.wait(timeout), "the subscriber did not subscribe"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def device_client(broker: Broker, name: str = "device", user: str = DEVICE,
                  password: str = DEVICE_PASSWORD) -> paho.Client:
    """A city device's connection (user DEVICE unless named), connected, its loop running;
    the caller disconnects it and stops the loop."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"{name}-{time.monotonic_ns()}")
    client.username_pw_set(user, password)
    client.tls_set(ca_certs=str(broker.ca.certificate), cert_reqs=ssl.CERT_REQUIRED)
    client.reconnect_delay_set(min_delay=1, max_delay=1)
    client.connect("localhost", broker.port)
    client.loop_start()
    return client
