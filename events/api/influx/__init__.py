"""The InfluxDB 1.x compatible write endpoint: ``POST /write`` and ``GET /ping`` at the root.

Agents that write to InfluxDB 1.x (Telegraf's ``outputs.influxdb``, the ``influxdb`` Python
client, scripts) feed EnergyLab unchanged: :mod:`.parser` reads line protocol, :mod:`.points`
turns points into samples of (pod, server), :mod:`.views` answers as InfluxDB does. See
docs/ingest.md.
"""
