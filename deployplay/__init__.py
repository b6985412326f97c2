"""deployplay: YAML playbooks of deployment steps, run over SSH, built for safe releases.

The names below are the public API for module authors. They are imported
lazily so that ``deployplay --version`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "CommandResult",
    "Connection",
    "DeployplayError",
    "Location",
    "Module",
    "ModuleContext",
    "ModuleResult",
    "__version__",
]

_LAZY = {
    "CommandResult": "deployplay.runner.results",
    "Connection": "deployplay.runner.connections.base",
    "DeployplayError": "deployplay.errors",
    "Location": "deployplay.errors",
    "Module": "deployplay.modules.base",
    "ModuleContext": "deployplay.modules.base",
    "ModuleResult": "deployplay.modules.base",
}

if TYPE_CHECKING:
    from deployplay.errors import DeployplayError, Location
    from deployplay.modules.base import Module, ModuleContext, ModuleResult
    from deployplay.runner.connections.base import Connection
    from deployplay.runner.results import CommandResult


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'deployplay' has no attribute {name!r}")
