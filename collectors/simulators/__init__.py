"""Simulated BMCs that speak real protocols (IPMI over LAN, Redfish) on loopback.

Used by the tests, `make demo` and the benchmarks; see ``simulate_lab``.
"""
