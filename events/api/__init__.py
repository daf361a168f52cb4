"""The native REST API of runs and events (``/api/v1/``) and the legacy ``/resources`` API."""
