"""Modules: one class a file. `registry` finds them (built-ins, entry points, module paths)."""
