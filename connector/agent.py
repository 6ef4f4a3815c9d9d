"""The agent's loop: report to the portal, keep its pinned keys current, rotate its own key when asked, and back
off while the portal cannot be reached. A refusal (revoked, or a key the portal no longer knows) ends the loop:
retrying cannot fix it, an administrator must."""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from dataclasses import replace
from pathlib import Path

from connector import __version__, config, inventory, protocol, vcenter, work
from connector.transport import Portal, PortalError

logger = logging.getLogger("connector.agent")
MAX_BACKOFF_SECONDS = 60
# How often the agent logs in to its vCenter to report on it (a login per heartbeat would be a needless load).
VCENTER_PROBE_SECONDS = 60
# How often the heartbeat loop asks itself whether a heartbeat is due (the switch file read, the probe's result).
BEAT_LOOK_SECONDS = 1.0


class Refused(Exception):
    """The portal refuses this agent's credential."""


def register(*, portal_url: str, code: str, ca_bundle: str = "", path: Path = config.DEFAULT_PATH) -> config.Config:
    """Generate the agent's key pair, exchange the one-time code for the portal's trust in its public half, pin
    the portal's public keys and write the configuration (0600). The private key never leaves this host."""
    key = protocol.new_private_key()
    portal = Portal(portal_url, ca_bundle=ca_bundle)
    answer = portal.post("agent/register/", {"code": code, "public_key": protocol.public_key_text(key),
                                             "version": __version__, "hostname": socket.gethostname()},
                         signed=False)
    saved = config.Config(portal_url=portal.url, agent_id=str(answer["agent_id"]),
                          private_key=protocol.private_key_text(key),
                          portal_public_keys=list(answer["portal_public_keys"]), name=answer.get("name", ""),
                          tenant=answer.get("tenant", ""), ca_bundle=ca_bundle,
                          heartbeat_seconds=int(answer.get("heartbeat_seconds", 20)))
    config.save(saved, path)
    logger.info("registered", extra={"fields": {"agent_id": saved.agent_id, "agent": saved.name,
                                                "tenant": saved.tenant}})
    return saved


class Agent:
    def __init__(self, settings: config.Config, *, path: Path = config.DEFAULT_PATH):
        self.settings = settings
        self.path = path
        self.portal = self._portal()
        self._probed_at: float | None = None
        self._vcenter: vcenter.Report | None = None
        self.inventory = inventory.InventoryReporter(lambda: self.portal, lambda: self.settings)
        # Set when the portal's answer to a request for work says it has something for this agent.
        self.rung = threading.Event()
        self.work = work.WorkLoop(lambda: self.portal, lambda: self.settings, on_beat=self.rung.set)
        self.polling_heartbeat_seconds = 0  # the portal says, in each heartbeat's answer (0: as often as ever)
        self._sent: dict | None = None
        self._beaten_at = 0.0

    def _portal(self) -> Portal:
        return Portal(self.settings.portal_url, ca_bundle=self.settings.ca_bundle, agent_id=self.settings.agent_id,
                      key=protocol.private_key_from_text(self.settings.private_key))

    def vcenter_report(self) -> dict:
        """What the heartbeat says of this host's vCenter (nothing when none is configured here)."""
        if not self.settings.vcenter:
            return {}
        now = time.monotonic()
        if self._probed_at is None or now - self._probed_at >= VCENTER_PROBE_SECONDS:
            self._vcenter, self._probed_at = vcenter.probe(self.settings.vcenter, self.settings.portal_vcenter), now
            if not self._vcenter.reachable:
                logger.warning("vCenter not reached", extra={"fields": {"category": self._vcenter.category}})
        return {"vcenter_version": self._vcenter.version, "vcenter_reachable": self._vcenter.reachable}

    def report(self) -> dict:
        """What a heartbeat says of this agent and its vCenter."""
        self._read_updating()
        return {"version": __version__, "hostname": socket.gethostname(), "updating": self.settings.updating,
                **self.vcenter_report()}

    def beat_due(self) -> bool:
        """A heartbeat is due when the portal rang, when what it would say changed, and otherwise every
        `heartbeat_seconds`; while the portal holds the agent's request for work (which keeps its contact and rings
        it when the portal has something for it), every `polling_heartbeat_seconds` only."""
        if self.rung.is_set() or self._sent is None or self.report() != self._sent:
            return True
        every = self.settings.heartbeat_seconds
        if self.work.held():
            every = max(every, self.polling_heartbeat_seconds)
        return time.monotonic() - self._beaten_at >= every

    def beat(self) -> dict:
        """One heartbeat, and what its answer asks for."""
        self.rung.clear()
        report = self.report()
        try:
            answer = self.portal.post("agent/heartbeat/", report)
        except PortalError as exc:
            if exc.category == "refused":
                raise Refused(exc.message) from None
            raise
        self._sent, self._beaten_at = report, time.monotonic()
        self.polling_heartbeat_seconds = int(answer.get("polling_heartbeat_seconds") or 0)
        self.work.wait_seconds = float(answer.get("work_wait_seconds") or work.DEFAULT_WAIT_SECONDS)
        pinned = list(answer.get("portal_public_keys") or [])
        if pinned and pinned != self.settings.portal_public_keys:
            self._save(portal_public_keys=pinned)
            logger.info("portal keys updated", extra={"fields": {"keys": len(pinned)}})
        trust = answer.get("vcenter") or {}
        if trust != self.settings.portal_vcenter:
            self._save(portal_vcenter=trust)
            self._probed_at = None  # probe again with the new settings
            logger.info("vCenter settings from the portal", extra={"fields": {"url": trust.get("url", "")}})
        if answer.get("rotate"):
            self.rotate()
        # Whether the inventory is due or a user asked for one: the reporter's own thread takes it.
        self.inventory.note(answer.get("inventory"))
        return answer

    def _read_updating(self) -> None:
        """`python -m connector updating on|off` writes the file from another process: read the switch again."""
        try:
            on_disk = config.load(self.path).updating
        except config.ConfigError:
            return
        if on_disk != self.settings.updating:
            self.settings = replace(self.settings, updating=on_disk)
            logger.info("updating" if on_disk else "update finished", extra={"fields": {"updating": on_disk}})

    def rotate(self) -> None:
        """A new key, announced in a request signed with the current one; saved only once the portal took it."""
        key = protocol.new_private_key()
        self.portal.post("agent/rotate/", {"public_key": protocol.public_key_text(key)})
        self._save(private_key=protocol.private_key_text(key))
        self.portal = self._portal()
        logger.info("key rotated", extra={"fields": {"agent_id": self.settings.agent_id}})

    def _save(self, **changes) -> None:
        self.settings = replace(self.settings, **changes)
        config.save(self.settings, self.path)

    def run(self, stop: threading.Event | None = None) -> int:
        """Until stopped (0) or refused (3). Work is taken by a second loop and the inventory by a third, so that a
        long poll or a long read of vCenter never delays the heartbeat and a heartbeat never delays either."""
        stop = stop or threading.Event()
        threading.Thread(target=self.work.run, args=(stop,), name="work", daemon=True).start()
        threading.Thread(target=self.inventory.run, args=(stop,), name="inventory", daemon=True).start()
        try:
            return self._beat_until(stop)
        finally:
            stop.set()

    def _beat_until(self, stop: threading.Event) -> int:
        failures, retry_at = 0, 0.0
        while not stop.is_set():
            if time.monotonic() >= retry_at and self.beat_due():
                try:
                    self.beat()
                    failures = 0
                except Refused as exc:
                    logger.error("refused by the portal; an administrator must register this agent again",
                                 extra={"fields": {"reason": str(exc)}})
                    return 3
                except PortalError as exc:
                    failures += 1
                    # Exponential with jitter, so that many agents cut off together do not return together.
                    wait = min(MAX_BACKOFF_SECONDS, 2 ** min(failures, 6)) * random.uniform(0.5, 1.0)
                    retry_at = time.monotonic() + wait
                    logger.warning("portal not reached", extra={"fields": {"category": exc.category,
                                                                            "retry_in_s": round(wait, 1)}})
            # A ring wakes the loop at once; otherwise it looks again each second (a look sends nothing).
            (stop if time.monotonic() < retry_at else self.rung).wait(BEAT_LOOK_SECONDS)
        return 0
