"""Shared pytest set-up: the SSH lab fixtures (tests/lab/) are available to every test."""

pytest_plugins = ["lab.fixtures"]
