"""Pods (a CI environment: a set of servers) and their servers' BMCs."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from collectors import crypto, source_settings
from collectors.drivers.base import BMCEndpoint
from collectors.health import PollState, health
from collectors.limits import MAX_POWER_W
from collectors.validators import validate_host, validate_topology
from energylab.validators import NAME_MAX_LENGTH, validate_name

# Server fields the collectors fill after each poll (read-only for people and the API).
HEALTH_FIELDS = (
    "last_reading_w",
    "last_reading_at",
    "last_source",
    "last_success_at",
    "last_error",
    "last_error_at",
    "consecutive_failures",
    "backoff_until",
)


class BMCType(models.TextChoices):
    IPMI = "ipmi", "IPMI (DCMI)"
    REDFISH = "redfish", "Redfish"
    ILO = "ilo", "HPE iLO"
    SNMP = "snmp", "SNMP (PDU outlets, any OID)"
    MODBUS = "modbus", "Modbus TCP meter"
    SHELLY = "shelly", "Shelly plug (HTTP)"
    PUSH = "push", "Push (sends its own measurements)"


#: the types EnergyLab polls (each has a driver): every type but push
POLLED_TYPES: tuple[str, ...] = tuple(t.value for t in BMCType if t != BMCType.PUSH)


queue_name_validator = RegexValidator(
    r"^[A-Za-z0-9_.:-]+$", "letters, digits and _ . : - only (a Celery queue name)"
)


class Pod(models.Model):
    """A set of servers that CI runs scenarios on; CI calls it NODE_NAME or environment."""

    name = models.CharField(max_length=NAME_MAX_LENGTH, unique=True, validators=[validate_name])
    description = models.TextField(blank=True)
    poll_interval = models.PositiveIntegerField(
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(86_400)],
        help_text="Seconds between two power readings of each server.",
    )
    active = models.BooleanField(default=True, help_text="Inactive pods are not polled.")
    queue = models.CharField(
        max_length=100,
        default="poll",
        validators=[queue_name_validator],
        help_text="Celery queue of this pod's polls: one per lab network, served by workers "
        "placed inside it.",
    )
    idle_baseline_w = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(MAX_POWER_W)],
        help_text="The pod's idle power in watts; blank: measured before each run.",
    )
    team = models.ForeignKey(
        Group,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="pods",
        help_text="The team whose users and tokens may use this pod; blank: unassigned (every "
        "authenticated user's while ENERGYLAB_UNASSIGNED_PODS_OPEN is on, else superusers' only).",
    )
    accepts_anonymous_events = models.BooleanField(
        default=False,
        help_text="Take events and measurements without credentials (only while "
        "ENERGYLAB_ALLOW_ANONYMOUS_EVENTS is on).",
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(poll_interval__gte=1), name="pod_poll_interval_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Server(models.Model):
    """A server of a pod, with the BMC that tells its power."""

    pod = models.ForeignKey(Pod, on_delete=models.CASCADE, related_name="servers")
    name = models.CharField(
        max_length=NAME_MAX_LENGTH,
        unique=True,
        validators=[validate_name],
        help_text="The legacy API's equipment or hardware id.",
    )
    bmc_type = models.CharField("BMC type", max_length=16, choices=BMCType.choices)
    host = models.CharField(
        max_length=255,
        blank=True,
        validators=[validate_host],
        help_text="BMC address: a host name or IP, or a URL with its scheme for Redfish/iLO.",
    )
    port = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(65_535)]
    )
    username = models.CharField(max_length=255, blank=True)
    password_encrypted = models.TextField(
        blank=True, editable=False, help_text="Fernet token; never the clear text."
    )
    privacy_password_encrypted = models.TextField(
        blank=True, editable=False, help_text="SNMPv3 privacy pass phrase, as a Fernet token."
    )
    verify_tls = models.BooleanField("verify TLS", default=False)
    source_settings = models.JSONField(
        default=dict,
        blank=True,
        help_text="What to read on an SNMP, Modbus or Shelly meter (OIDs, outlets, registers), or an "
        "IPMI bridge address; see docs/sources.md. Empty for other BMCs.",
    )
    active = models.BooleanField(default=True, help_text="Inactive servers are not polled.")

    # How far its readings can be trusted: the error bounds of reports (docs/reports.md).
    accuracy_pct = models.FloatField(
        "accuracy (± %)",
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="The stated accuracy of its power readings, in ± %; blank: its protocol's "
        "default.",
    )
    refresh_s = models.FloatField(
        "refresh period (s)",
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(3600)],
        help_text="How long its BMC holds (or averages) each reading, in seconds; blank: "
        "learned from how often the reading changes, else its protocol's default.",
    )

    # Topology, as the legacy measurements API and dashboards know it.
    dc = models.CharField("data centre", max_length=100, blank=True, validators=[validate_topology])
    room = models.CharField(max_length=100, blank=True, validators=[validate_topology])
    row = models.CharField(max_length=100, blank=True, validators=[validate_topology])
    rack = models.CharField(max_length=100, blank=True, validators=[validate_topology])

    # Health, filled by the collectors.
    last_reading_w = models.FloatField("last reading (W)", null=True, blank=True, editable=False)
    last_reading_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_source = models.CharField(max_length=100, blank=True, editable=False)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    last_error_at = models.DateTimeField(null=True, blank=True, editable=False)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    backoff_until = models.DateTimeField(null=True, blank=True, editable=False)

    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["pod__name", "name"]
        indexes = [models.Index(fields=["pod", "active"], name="server_pod_active")]

    def __str__(self) -> str:
        return self.name

    # -- credentials ----------------------------------------------------------------------------

    @property
    def password(self) -> str:
        return crypto.decrypt(self.password_encrypted) if self.password_encrypted else ""

    @password.setter
    def password(self, value: str) -> None:
        self.password_encrypted = crypto.encrypt(value) if value else ""

    @property
    def privacy_password(self) -> str:
        encrypted = self.privacy_password_encrypted
        return crypto.decrypt(encrypted) if encrypted else ""

    @privacy_password.setter
    def privacy_password(self, value: str) -> None:
        self.privacy_password_encrypted = crypto.encrypt(value) if value else ""

    # -- rules and derived values ---------------------------------------------------------------

    def clean(self) -> None:
        # The host's own format is its field's validator (run by full_clean and the API).
        if self.bmc_type != BMCType.PUSH and not self.host:
            raise ValidationError({"host": "a polled server needs its BMC's address"})
        try:
            source_settings.validate(self.bmc_type, self.source_settings)
        except source_settings.SourceSettingsError as exc:
            raise ValidationError({"source_settings": str(exc)}) from None

    @property
    def is_polled(self) -> bool:
        return self.bmc_type != BMCType.PUSH

    def poll_state(self) -> PollState:
        """What :func:`collectors.health.health` judges (reads the pod: select it with the row;
        and the pods' poll heartbeats, one Redis read per second per process)."""
        from django.conf import settings

        from collectors import heartbeats

        return PollState(
            active=self.active,
            pod_active=self.pod.active,
            polled=self.is_polled,
            poll_interval=float(self.pod.poll_interval),
            created=self.created,
            last_success_at=self.last_success_at,
            last_error_at=self.last_error_at,
            backoff_until=self.backoff_until,
            consecutive_failures=self.consecutive_failures,
            pod_polled_at=heartbeats.last_polls().get(self.pod_id),
            success_refresh_s=settings.POLL_HEALTH_INTERVAL,
        )

    @property
    def health(self) -> str:
        """``ok``, ``failing``, ``circuit open``, ``stale``, ... (:mod:`collectors.health`)."""
        return health(self.poll_state(), timezone.now())

    @property
    def topology(self) -> dict[str, str]:
        return {"dc": self.dc, "room": self.room, "row": self.row, "rack": self.rack}

    def endpoint(self, timeout: float = 5.0) -> BMCEndpoint:
        """What a driver needs to reach this server's BMC (decrypts the password)."""
        host, port, scheme = self.host, self.port, None
        if "://" in host:
            parts = urlsplit(host)
            scheme, host = parts.scheme, parts.hostname or ""
            port = port or parts.port
        return BMCEndpoint(
            host=host,
            port=port,
            username=self.username,
            password=self.password,
            verify_tls=self.verify_tls,
            scheme=scheme,
            timeout=timeout,
            options=self.source_settings or {},
            privacy_password=self.privacy_password,
            poll_interval=float(self.pod.poll_interval) if self.pod_id else None,
        )
