"""Plug-ins of the scenario runner: each module registers traffic types, features or
extension kinds with ``qdisclab.scenario.registry`` when imported (auto-discovered).

To add TCP: create ``kinds/tcp.py`` calling ``register_traffic("tcp-bulk", builder)``.
"""
