from __future__ import annotations

from rest_framework import serializers

from accounts.models import ApiKey, Role, Scope
from config.pagination import LimitSkipPaginationSerializer
from config.schema import Envelope


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()


class ApiKeySerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    prefix = serializers.SerializerMethodField()
    user = UserRefSerializer(read_only=True)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=Scope.choices))

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "scopes",
            "user",
            "created_at",
            "last_used_at",
            "revoked_at",
        ]

    def get_prefix(self, key: ApiKey) -> str:
        return f"ohk_{key.prefix}"


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=Scope.choices), allow_empty=False
    )


class ApiKeyEnvelope(serializers.Serializer):
    status = serializers.CharField(default="success")
    api_key = ApiKeySerializer()


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(help_text="The full key. Shown once; store it now.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]


class ApiKeyCreatedEnvelope(serializers.Serializer):
    status = serializers.CharField(default="success")
    api_key = ApiKeyCreatedSerializer()


class ApiKeyListEnvelope(Envelope):
    status = serializers.CharField(default="success")
    api_keys = ApiKeySerializer(many=True)
    pagination = LimitSkipPaginationSerializer()


class WorkspaceRefSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    name = serializers.CharField()
    timezone = serializers.CharField()


class MeUserSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices)


class MeSerializer(serializers.Serializer):
    status = serializers.CharField(default="success")
    workspace = WorkspaceRefSerializer()
    user = MeUserSerializer()
    api_key = ApiKeySerializer()
