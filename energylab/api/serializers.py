"""Serializers every API shares."""

from __future__ import annotations

from rest_framework import serializers


class DetailSerializer(serializers.Serializer):
    """Every refusal that is not about given fields."""

    detail = serializers.CharField()
