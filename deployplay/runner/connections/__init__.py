"""Connections to hosts: the Connection protocol, local, ssh (Fabric) and a fake for tests.

`open_connection(settings, options)` picks the transport for one host from its
inventory settings: `connection: local` (and the implicit localhost) run on
this machine; everything else goes over SSH. The SSH module (Fabric, paramiko)
is imported only when a host needs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deployplay.runner.connections.base import Connection
    from deployplay.runner.context import RunOptions
    from deployplay.runner.inventory import ConnectionSettings


def open_connection(settings: ConnectionSettings, options: RunOptions) -> Connection:
    """The connection for one host (not connected yet: it connects on first use)."""
    if settings.connection == "local":
        from deployplay.runner.connections.local import LocalConnection

        return LocalConnection(settings.name)
    from deployplay.runner.connections.ssh import SSHConnection

    return SSHConnection.from_settings(
        settings,
        accept_new_host_keys=options.accept_new_host_keys,
        known_hosts=[Path(p) for p in options.known_hosts],
        connect_timeout=options.connect_timeout,
    )
