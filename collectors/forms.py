"""Admin forms: the BMC password is write-only."""

from __future__ import annotations

from typing import Any

from django import forms

from collectors.models import Server


class ServerForm(forms.ModelForm):
    """A server form whose password is never rendered back; blank keeps the stored one."""

    password = forms.CharField(
        label="BMC password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only, stored encrypted. Leave blank to keep the stored password.",
    )
    clear_password = forms.BooleanField(
        label="Clear the stored password", required=False, initial=False
    )
    privacy_password = forms.CharField(
        label="SNMPv3 privacy pass phrase",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="SNMPv3 only. Write-only, stored encrypted. Leave blank to keep the stored one.",
    )

    class Meta:
        model = Server
        fields = [
            "pod",
            "name",
            "bmc_type",
            "host",
            "port",
            "username",
            "password",
            "clear_password",
            "privacy_password",
            "verify_tls",
            "source_settings",
            "active",
            "dc",
            "room",
            "row",
            "rack",
        ]

    def save(self, commit: bool = True) -> Any:
        server: Server = super().save(commit=False)
        if self.cleaned_data.get("clear_password"):
            server.password = ""
        elif self.cleaned_data.get("password"):
            server.password = self.cleaned_data["password"]
        if self.cleaned_data.get("privacy_password"):
            server.privacy_password = self.cleaned_data["privacy_password"]
        if commit:
            server.save()
        return server
