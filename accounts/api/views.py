from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.api.serializers import (
    ApiKeyCreatedEnvelope,
    ApiKeyCreateSerializer,
    ApiKeyEnvelope,
    ApiKeyListEnvelope,
    ApiKeySerializer,
    MeSerializer,
)
from accounts.models import ApiKey, Scope
from accounts.permissions import ANY_KEY
from accounts.tenancy import WorkspaceScopedMixin
from config.exceptions import NotFound, ValidationFailed
from config.pagination import paginate_limit_skip
from config.schema import LIMIT_SKIP_PARAMS


class MeView(APIView):
    """Who am I: the key's workspace, user, role and scopes."""

    required_scopes = {"GET": ANY_KEY}

    @extend_schema(responses=MeSerializer, operation_id="me_retrieve", tags=["accounts"])
    def get(self, request: Request) -> Response:
        key: ApiKey = request.auth
        return Response(
            {
                "status": "success",
                "workspace": {
                    "id": key.workspace.public_id,
                    "name": key.workspace.name,
                    "timezone": key.workspace.timezone,
                },
                "user": {"id": key.user.pk, "email": key.user.email, "role": key.role},
                "api_key": ApiKeySerializer(key).data,
            }
        )


@extend_schema(tags=["accounts"])
class ApiKeyViewSet(WorkspaceScopedMixin, viewsets.GenericViewSet):
    """API keys of the caller's workspace. Admins see all, members their own."""

    serializer_class = ApiKeySerializer
    queryset = ApiKey.objects.all()
    required_scopes = {
        "list": Scope.SETTINGS_MANAGE,
        "retrieve": Scope.SETTINGS_MANAGE,
        "create": Scope.SETTINGS_MANAGE,
        "revoke": Scope.SETTINGS_MANAGE,
    }
    lookup_value_regex = r"key_[0-9a-f]+"

    def get_queryset(self):
        keys = super().get_queryset().select_related("user")
        if not self.api_key.is_workspace_admin:
            keys = keys.filter(user=self.api_key.user)  # members see their own keys only
        return keys

    def get_object(self) -> ApiKey:
        key = self.get_queryset().filter(prefix=self.kwargs["pk"].removeprefix("key_")).first()
        if key is None:
            raise NotFound("No such API key.")
        return key

    @extend_schema(
        parameters=LIMIT_SKIP_PARAMS,
        responses=ApiKeyListEnvelope,
    )
    def list(self, request: Request) -> Response:
        rows, pagination = paginate_limit_skip(request.query_params, self.get_queryset())
        return Response(
            {
                "status": "success",
                "api_keys": ApiKeySerializer(rows, many=True).data,
                "pagination": pagination,
            }
        )

    @extend_schema(responses=ApiKeyEnvelope)
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response({"status": "success", "api_key": ApiKeySerializer(self.get_object()).data})

    @extend_schema(request=ApiKeyCreateSerializer, responses={201: ApiKeyCreatedEnvelope})
    def create(self, request: Request) -> Response:
        body = ApiKeyCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        scopes = body.validated_data["scopes"]
        beyond = sorted(set(scopes) - set(self.api_key.scopes))
        if beyond:
            # A key may not mint a key stronger than itself.
            raise ValidationFailed(
                "A key cannot grant scopes it does not have.",
                fields={"scopes": [f"Not held by the calling key: {s}." for s in beyond]},
            )
        key, secret = services.api_key_create(
            workspace=self.workspace,
            user=self.api_key.user,
            name=body.validated_data["name"],
            scopes=scopes,
        )
        data = dict(ApiKeySerializer(key).data, key=secret)
        return Response({"status": "success", "api_key": data}, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=ApiKeyEnvelope)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str) -> Response:
        key = services.api_key_revoke(api_key=self.get_object())
        return Response({"status": "success", "api_key": ApiKeySerializer(key).data})
