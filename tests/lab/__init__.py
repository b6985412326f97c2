"""The SSH lab: real hosts as network namespaces, and the pytest fixtures that make them."""

from lab.lab import Lab, LabHost, lab_unavailable

__all__ = ["Lab", "LabHost", "lab_unavailable"]
