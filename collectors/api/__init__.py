"""The REST API of pods and their servers (``/api/v1/pods/``, ``/api/v1/servers/``)."""
