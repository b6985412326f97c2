"""The errors deployplay raises, one rooted tree.

    DeployplayError                  everything deployplay raises on purpose
    ├── UserError                    found before any host is touched -> exit 3
    │   ├── LoadError                unreadable file, YAML syntax, duplicate key
    │   ├── PlaybookError            unknown keyword, bad value, missing import
    │   ├── ModuleError              unknown module, bad module arguments, module defined twice
    │   ├── InventoryError           missing inventory, bad host pattern
    │   └── TemplateError            template syntax error, undefined variable
    ├── HostError                    a problem on one host while running: fails that host's task
    │   ├── CommandTimeout           a remote command ran past its timeout
    │   └── UnreachableError         the host cannot be reached or dropped off -> exit 4
    │       └── HostKeyError         unknown or changed host key
    └── Interrupted                  Ctrl-C -> exit 99

Every error can carry a Location (file:line:col in the user's YAML) and a
hint that says what to do. ``str(error)`` is the one line a user sees.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a user's file; line and col are 1-based."""

    file: str
    line: int
    col: int = 0

    def __str__(self) -> str:
        if self.col:
            return f"{self.file}:{self.line}:{self.col}"
        return f"{self.file}:{self.line}"


class DeployplayError(Exception):
    """Root of every error deployplay raises on purpose."""

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        if self.hint:
            text = f"{text} ({self.hint})"
        return text

    def at(self, location: Location | None) -> DeployplayError:
        """Attach a location if the error has none yet; returns self for `raise e.at(loc)`."""
        if self.location is None and location is not None:
            self.location = location
        return self


class UserError(DeployplayError):
    """A mistake in a playbook, inventory or the command line, found before any host is touched."""


class LoadError(UserError):
    """A file that cannot be read, is not valid YAML, or repeats a key."""


class PlaybookError(UserError):
    """A playbook that parses but makes no sense: unknown keyword, bad value, missing import."""


class ModuleError(UserError):
    """An unknown module, arguments its model refuses, or a module name defined twice."""


class InventoryError(UserError):
    """A missing or malformed inventory, or a host pattern that matches nothing."""


class TemplateError(UserError):
    """A template that does not compile, or that names an undefined variable."""


class HostError(DeployplayError):
    """Something went wrong on one host while running; it fails that host's task, not the run."""


class CommandTimeout(HostError):
    """A command on a host ran past its timeout and was stopped."""


class UnreachableError(HostError):
    """The host cannot be reached (refused, unresolvable, timed out, dropped off, auth refused)."""


class HostKeyError(UnreachableError):
    """The host's key is unknown (and not accepted) or differs from the one recorded."""


class Interrupted(DeployplayError):
    """The run was interrupted (Ctrl-C)."""
