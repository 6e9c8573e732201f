"""What a carepath process runs with: its settings, database, workflow store and SMS gateway.

The composition root (`config.wiring`) builds them and installs a factory here when a process starts (`carepath …`,
`celery -A config.worker …`, the API's factory); tasks and routes then ask `services()`. Nothing here builds anything,
so workers/ never imports config/.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy import Engine

from models.ports import ClinicBook, SmsGateway
from models.store import WorkflowStore
from models.unit_of_work import T, UnitOfWork, run_committed
from workers.settings import Settings
from workflows.network import Network

# How often a running process looks whether a clinic was added or changed (one small query when nothing was).
NETWORK_CHECK_SECONDS = 30.0


@dataclass
class Services:
    settings: Settings
    engine: Engine
    store: WorkflowStore
    make_gateway: Callable[[], SmsGateway] = field(repr=False, default=None)
    # The network as stored now, or None when it has not changed since the last call (the composition root's).
    changed_network: Callable[[], Network | None] | None = field(repr=False, default=None)
    _network_checked: float = field(repr=False, default_factory=time.monotonic)
    clinic_book: ClinicBook | None = field(repr=False, default=None)  # where the admin pages add and change clinics

    def network_check_due(self) -> bool:
        return self.changed_network is not None and time.monotonic() - self._network_checked >= NETWORK_CHECK_SECONDS

    def refresh_network(self, *, now: bool = False) -> bool:
        """Serve the stored clinics if they changed: at most every NETWORK_CHECK_SECONDS, or `now` (after a change in
        this process). True when the network changed. A network that no longer validates is not served: the one
        in use stays, and the caller hears of it."""
        if self.changed_network is None:
            return False
        if not now and not self.network_check_due():
            return False
        self._network_checked = time.monotonic()
        network = self.changed_network()
        if network is None:
            return False
        self.store.serve(network)
        return True

    @cached_property
    def gateway(self) -> SmsGateway:
        """The SMS gateway, built on first use (Twilio's SDK is imported only when it is the one chosen)."""
        return self.make_gateway()

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self.engine)

    def run(self, operation: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One store operation in a unit of work of its own, committed: `svc.run(claim_message, message_id, now)`."""
        return run_committed(self.engine, operation, *args, **kwargs)


_factory: Callable[[], Services] | None = None
_built: Services | None = None


def install(factory: Callable[[], Services]) -> None:
    """Tell this process how to build its services (the composition root does this at start)."""
    global _factory, _built
    _factory, _built = factory, None


def installed() -> bool:
    return _factory is not None


def services() -> Services:
    """This process's services, built on first use by the installed factory."""
    global _built
    if _built is None:
        if _factory is None:
            raise RuntimeError("carepath's services are not installed: start it through `carepath …` or "
                               "`celery -A config.worker worker` (config.wiring.install())")
        _built = _factory()
    _built.refresh_network()  # a clinic added while this process runs: served within NETWORK_CHECK_SECONDS
    return _built
