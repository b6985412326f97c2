"""Connections to hosts: the Connection protocol, local, ssh (Fabric) and a fake for tests."""
