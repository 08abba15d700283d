"""/v1/cadences and /v1/enrollments: cadences, their steps, and enrolling and
stopping contacts (the Pathbound facade's envelope: `{"status":"success", ...}`).

Ids are integers for cadences, steps and enrollments (the same ids Salesloft's
`/v2/actions` shows for `cadence` and `step`). Scopes: `actions:read` for reads,
`actions:write` for writes.

Visibility: team cadences are seen by every member, personal ones by their
owner only; admins see all. Members change only cadences they own (a 403
otherwise); anyone who sees a cadence may enroll contacts in it. Enrollments are
seen by admins and by the user they belong to (whose actions the steps become),
as for actions. Another workspace's record, or one not visible, is a 404.
"""

from __future__ import annotations

from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action as route
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.actors import Actor
from accounts.api.serializers import UserRefSerializer
from accounts.models import Membership, Scope
from accounts.tenancy import WorkspaceScopedMixin
from config.exceptions import NotFound, ValidationFailed
from config.pagination import LimitSkipPaginationSerializer, paginate_limit_skip
from config.responses import ok
from config.schema import LIMIT_SKIP_PARAMS, Envelope
from contacts.models import Contact
from outreach import selectors
from outreach.models import (
    STEP_ACTION_TYPES,
    Action,
    Cadence,
    CadenceSharing,
    Enrollment,
    EnrollmentState,
    Identity,
    Step,
    StepType,
    StopReason,
)
from outreach.services import cadences as services

CADENCE_ID = OpenApiParameter("cadence_id", int, OpenApiParameter.PATH)
# /v1/cadences itself has no id: the viewset-wide CADENCE_ID is taken off it.
NO_CADENCE_ID = OpenApiParameter("cadence_id", int, OpenApiParameter.PATH, exclude=True)
STEP_ID = OpenApiParameter("step_id", int, OpenApiParameter.PATH)
ENROLLMENT_ID = OpenApiParameter("enrollment_id", int, OpenApiParameter.PATH)
# The reasons a person gives here; the others come from events (outreach.receivers).
API_STOP_REASONS = [StopReason.MANUAL, StopReason.MEETING_BOOKED]


def with_details(enrollments: QuerySet[Enrollment]) -> QuerySet[Enrollment]:
    """The contact, user, the user's guid and the current step's action, in the same query."""
    latest_action = Action.objects.filter(enrollment=OuterRef("pk")).order_by("-id")
    guid = Membership.objects.filter(user=OuterRef("user"), workspace=OuterRef("workspace"))
    return enrollments.select_related("contact", "user", "current_step").annotate(
        current_action_id=Subquery(latest_action.values("public_id")[:1]),
        user_guid=Subquery(guid.values("guid")[:1]),
    )


# --- Serializers ----------------------------------------------------------------------
STEP_TYPES_HELP = "One of: " + ", ".join(StepType.values) + "."


# Its enum is named StepTypeEnum in the schema (settings.SPECTACULAR_SETTINGS), apart
# from the action types' TypeEnum.
class StepTypeField(serializers.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=StepType.choices, help_text=STEP_TYPES_HELP, **kwargs)


class StepSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    cadence_id = serializers.IntegerField()
    order = serializers.IntegerField()
    day = serializers.IntegerField(help_text="1 = the day of enrollment (Salesloft's numbering).")
    type = StepTypeField()
    action_type = serializers.SerializerMethodField()
    name = serializers.CharField()
    params_template = serializers.DictField()
    identity_id = serializers.CharField(source="identity.public_id", allow_null=True, default=None)
    require_approval = serializers.BooleanField()
    multitouch_group_id = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_action_type(self, step: Step) -> str:
        return STEP_ACTION_TYPES[step.type]


class CadenceSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    sharing = serializers.ChoiceField(choices=CadenceSharing.choices)
    is_active = serializers.BooleanField()
    owner = UserRefSerializer(allow_null=True)
    steps_count = serializers.IntegerField()
    active_enrollments_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class CadenceDetailSerializer(CadenceSerializer):
    steps = StepSerializer(many=True, source="ordered_steps")


class CadenceWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    sharing = serializers.ChoiceField(choices=CadenceSharing.choices, default=CadenceSharing.TEAM)
    is_active = serializers.BooleanField(default=True)


class CadenceUpdateSerializer(CadenceWriteSerializer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("partial", True)
        super().__init__(*args, **kwargs)


# Beyond the columns' ranges a number is a 400, not a database error. Orders stay
# far below the int column so "last + 1" always fits.
MAX_STEP_ORDER = 10_000


class StepWriteSerializer(serializers.Serializer):
    """Shapes only; `outreach.services.cadences` checks the rest (the identity's channel,
    the template rendered against a sample contact and validated as params)."""

    type = StepTypeField()
    order = serializers.IntegerField(
        min_value=1, max_value=MAX_STEP_ORDER, required=False, help_text="Default: last."
    )
    day = serializers.IntegerField(min_value=1, max_value=3650, default=1)
    name = serializers.CharField(max_length=200, allow_blank=True, default="")
    params_template = serializers.JSONField(
        default=dict,
        help_text="The action's params; strings are sandboxed Jinja2 over `contact` (also "
        "`endUser`), `sender`, `cadence` and `step`; a variable it does not know is a 400 "
        "naming it. The recipient defaults to the contact.",
    )
    identity_id = serializers.CharField(allow_null=True, default=None)
    require_approval = serializers.BooleanField(default=False)
    multitouch_group_id = serializers.IntegerField(
        min_value=-(2**63), max_value=2**63 - 1, allow_null=True, default=None
    )


class StepUpdateSerializer(StepWriteSerializer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("partial", True)  # absent means unchanged (defaults are skipped)
        super().__init__(*args, **kwargs)


class EnrollmentSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    cadence_id = serializers.IntegerField()
    contact_id = serializers.CharField(source="contact.public_id")
    user = UserRefSerializer(allow_null=True)
    user_guid = serializers.UUIDField(allow_null=True)
    state = serializers.ChoiceField(choices=EnrollmentState.choices)
    current_step_id = serializers.IntegerField(allow_null=True)
    current_step_order = serializers.IntegerField(
        source="current_step.order", allow_null=True, default=None
    )
    current_action_id = serializers.CharField(
        allow_null=True, help_text="The action of the current (or last) step."
    )
    stop_reason = serializers.ChoiceField(choices=StopReason.choices, allow_null=True)
    stop_note = serializers.CharField()
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def to_representation(self, enrollment: Enrollment) -> dict:
        data = super().to_representation(enrollment)
        data["stop_reason"] = data["stop_reason"] or None
        return data


class EnrollmentCreateSerializer(serializers.Serializer):
    contact_id = serializers.CharField(max_length=64)
    user_guid = serializers.UUIDField(
        required=False, help_text="Whose actions the steps become (admins only); default: yours."
    )


class StopSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=API_STOP_REASONS, default=StopReason.MANUAL)
    note = serializers.CharField(max_length=500, allow_blank=True, default="")


class CadenceListParams(serializers.Serializer):
    is_active = serializers.BooleanField(required=False, allow_null=True, default=None)
    sharing = serializers.ChoiceField(choices=CadenceSharing.choices, required=False)


class EnrollmentListParams(serializers.Serializer):
    state = serializers.ChoiceField(choices=EnrollmentState.choices, required=False)
    contact_id = serializers.CharField(required=False, max_length=64)


class CadenceEnvelope(serializers.Serializer):
    status = serializers.CharField(default="success")
    cadence = CadenceDetailSerializer()


class CadenceListEnvelope(Envelope):
    status = serializers.CharField(default="success")
    cadences = CadenceSerializer(many=True)
    pagination = LimitSkipPaginationSerializer()


class StepEnvelope(serializers.Serializer):
    status = serializers.CharField(default="success")
    step = StepSerializer()


class StepListEnvelope(Envelope):
    status = serializers.CharField(default="success")
    steps = StepSerializer(many=True)
    pagination = LimitSkipPaginationSerializer()


class DeletedEnvelope(serializers.Serializer):
    status = serializers.CharField(default="success")
    deleted = serializers.IntegerField()


class EnrollmentEnvelope(serializers.Serializer):
    status = serializers.CharField(default="success")
    enrollment = EnrollmentSerializer()


class EnrollmentCreatedEnvelope(EnrollmentEnvelope):
    action_id = serializers.CharField(help_text="The first step's action.")


class EnrollmentListEnvelope(Envelope):
    status = serializers.CharField(default="success")
    enrollments = EnrollmentSerializer(many=True)
    pagination = LimitSkipPaginationSerializer()


# --- Views ----------------------------------------------------------------------------
class _Scoped(WorkspaceScopedMixin):
    @property
    def actor(self) -> Actor:
        return Actor.for_api_key(self.api_key)

    @property
    def visibility(self) -> dict[str, Any]:
        return selectors.api_key_visibility(self.api_key)

    def visible_enrollments(self) -> QuerySet[Enrollment]:
        return with_details(selectors.enrollments_visible_to(**self.visibility))

    def enrollment_data(self, enrollment: Enrollment) -> dict:
        fresh = self.visible_enrollments().get(pk=enrollment.pk)
        return EnrollmentSerializer(fresh).data


@extend_schema(tags=["cadences"], parameters=[CADENCE_ID])
class CadenceViewSet(_Scoped, viewsets.GenericViewSet):
    """Cadences (sequences): their steps, and the contacts enrolled in them."""

    queryset = Cadence.objects.all()
    serializer_class = CadenceSerializer
    lookup_url_kwarg = "cadence_id"
    lookup_value_regex = r"[0-9]+"
    required_scopes = {
        "list": Scope.ACTIONS_READ,
        "retrieve": Scope.ACTIONS_READ,
        "create": Scope.ACTIONS_WRITE,
        "partial_update": Scope.ACTIONS_WRITE,
        "steps:GET": Scope.ACTIONS_READ,
        "steps:POST": Scope.ACTIONS_WRITE,
        "step_detail:GET": Scope.ACTIONS_READ,
        "step_detail:PATCH": Scope.ACTIONS_WRITE,
        "step_detail:DELETE": Scope.ACTIONS_WRITE,
        "enrollments:GET": Scope.ACTIONS_READ,
        "enrollments:POST": Scope.ACTIONS_WRITE,
    }

    def get_queryset(self) -> QuerySet[Cadence]:
        return selectors.cadences_with_counts(selectors.cadences_visible_to(**self.visibility))

    def get_object(self) -> Cadence:
        cadence = self.get_queryset().filter(pk=self.kwargs["cadence_id"]).first()
        if cadence is None:
            raise NotFound("No such cadence.")
        return cadence

    def changeable_object(self) -> Cadence:
        cadence = self.get_object()
        if not selectors.can_change_cadence(cadence=cadence, **self._who()):
            raise PermissionDenied("Only the cadence's owner or an admin can change it.")
        return cadence

    def _who(self) -> dict[str, Any]:
        return {"user": self.api_key.user, "is_admin": self.api_key.is_workspace_admin}

    def detail_data(self, cadence: Cadence) -> dict:
        cadence = self.get_queryset().get(pk=cadence.pk)  # fresh counts
        cadence.ordered_steps = list(cadence.steps.select_related("identity").order_by("order"))
        return CadenceDetailSerializer(cadence).data

    def identity_of(self, data: dict) -> dict:
        """`identity_id` (public id or null) → `identity`, in this workspace."""
        if "identity_id" not in data:
            return data
        public_id = data.pop("identity_id")
        identity = None
        if public_id is not None:
            identity = Identity.objects.filter(
                workspace=self.workspace, public_id=public_id
            ).first()
            if identity is None:
                raise ValidationFailed(
                    fields={"identity_id": [f"No identity {public_id!r} in this workspace."]}
                )
        return {**data, "identity": identity}

    # --- cadences -------------------------------------------------------------------
    @extend_schema(
        parameters=[NO_CADENCE_ID, *LIMIT_SKIP_PARAMS, CadenceListParams],
        responses=CadenceListEnvelope,
    )
    def list(self, request: Request) -> Response:
        params = CadenceListParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        cadences = self.get_queryset().order_by("id")
        if params.validated_data.get("is_active") is not None:
            cadences = cadences.filter(is_active=params.validated_data["is_active"])
        if "sharing" in params.validated_data:
            cadences = cadences.filter(sharing=params.validated_data["sharing"])
        rows, pagination = paginate_limit_skip(request.query_params, cadences)
        return Response(ok(cadences=CadenceSerializer(rows, many=True).data, pagination=pagination))

    @extend_schema(
        parameters=[NO_CADENCE_ID], request=CadenceWriteSerializer, responses={201: CadenceEnvelope}
    )
    def create(self, request: Request) -> Response:
        body = CadenceWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        cadence = services.cadence_create(
            workspace=self.workspace, actor=self.actor, **body.validated_data
        )
        return Response(ok(cadence=self.detail_data(cadence)), status=status.HTTP_201_CREATED)

    @extend_schema(responses=CadenceEnvelope)
    def retrieve(self, request: Request, cadence_id: str) -> Response:
        return Response(ok(cadence=self.detail_data(self.get_object())))

    @extend_schema(request=CadenceUpdateSerializer, responses=CadenceEnvelope)
    def partial_update(self, request: Request, cadence_id: str) -> Response:
        """`is_active: false` stops the cadence's active enrollments (cadence_deactivated)."""
        cadence = self.changeable_object()
        body = CadenceUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        cadence = services.cadence_update(
            cadence=cadence, actor=self.actor, changes=dict(body.validated_data)
        )
        return Response(ok(cadence=self.detail_data(cadence)))

    # --- steps ----------------------------------------------------------------------
    @extend_schema(methods=["GET"], parameters=LIMIT_SKIP_PARAMS, responses=StepListEnvelope)
    @extend_schema(methods=["POST"], request=StepWriteSerializer, responses={201: StepEnvelope})
    @route(detail=True, methods=["get", "post"])
    def steps(self, request: Request, cadence_id: str) -> Response:
        if request.method == "GET":
            cadence = self.get_object()
            steps = cadence.steps.select_related("identity").order_by("order")
            rows, pagination = paginate_limit_skip(request.query_params, steps, default_limit=100)
            return Response(ok(steps=StepSerializer(rows, many=True).data, pagination=pagination))
        cadence = self.changeable_object()
        body = StepWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        step = services.step_create(cadence=cadence, **self.identity_of(dict(body.validated_data)))
        return Response(ok(step=StepSerializer(step).data), status=status.HTTP_201_CREATED)

    def _step(self, cadence: Cadence, step_id: str) -> Step:
        step = cadence.steps.select_related("identity").filter(pk=step_id).first()
        if step is None:
            raise NotFound("No such step.")
        return step

    @extend_schema(
        methods=["GET"],
        parameters=[STEP_ID],
        responses=StepEnvelope,
        operation_id="v1_cadences_step_retrieve",
    )
    @extend_schema(
        methods=["PATCH"],
        parameters=[STEP_ID],
        request=StepUpdateSerializer,
        responses=StepEnvelope,
    )
    @extend_schema(methods=["DELETE"], parameters=[STEP_ID], responses={200: DeletedEnvelope})
    @route(detail=True, methods=["get", "patch", "delete"], url_path=r"steps/(?P<step_id>[0-9]+)")
    def step_detail(self, request: Request, cadence_id: str, step_id: str) -> Response:
        if request.method == "GET":
            return Response(ok(step=StepSerializer(self._step(self.get_object(), step_id)).data))
        step = self._step(self.changeable_object(), step_id)
        if request.method == "DELETE":
            services.step_delete(step=step)
            return Response(ok(deleted=int(step_id)))
        body = StepUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        step = services.step_update(step=step, changes=self.identity_of(dict(body.validated_data)))
        step = self._step(step.cadence, step_id)
        return Response(ok(step=StepSerializer(step).data))

    # --- enrollments ----------------------------------------------------------------
    @extend_schema(
        methods=["GET"],
        parameters=[*LIMIT_SKIP_PARAMS, EnrollmentListParams],
        responses=EnrollmentListEnvelope,
    )
    @extend_schema(
        methods=["POST"],
        request=EnrollmentCreateSerializer,
        responses={201: EnrollmentCreatedEnvelope},
    )
    @route(detail=True, methods=["get", "post"])
    def enrollments(self, request: Request, cadence_id: str) -> Response:
        cadence = self.get_object()
        if request.method == "GET":
            params = EnrollmentListParams(data=request.query_params)
            params.is_valid(raise_exception=True)
            enrollments = self.visible_enrollments().filter(cadence=cadence).order_by("id")
            if "state" in params.validated_data:
                enrollments = enrollments.filter(state=params.validated_data["state"])
            if "contact_id" in params.validated_data:
                enrollments = enrollments.filter(
                    contact__public_id=params.validated_data["contact_id"]
                )
            rows, pagination = paginate_limit_skip(request.query_params, enrollments)
            return Response(
                ok(enrollments=EnrollmentSerializer(rows, many=True).data, pagination=pagination)
            )
        body = EnrollmentCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        contact = (
            Contact.objects.for_workspace(self.workspace)
            .filter(public_id=data["contact_id"])
            .first()
        )
        if contact is None:
            raise ValidationFailed(
                fields={"contact_id": [f"No contact {data['contact_id']!r} in this workspace."]}
            )
        user = self.api_key.user
        if "user_guid" in data:
            membership = (
                Membership.objects.filter(workspace=self.workspace, guid=data["user_guid"])
                .select_related("user")
                .first()
            )
            if membership is None:
                raise ValidationFailed(fields={"user_guid": ["No such user in this workspace."]})
            if membership.user_id != user.pk and not self.api_key.is_workspace_admin:
                raise PermissionDenied("Only an admin can enroll contacts for another user.")
            user = membership.user
        enrollment = services.enrollment_create(
            workspace=self.workspace, actor=self.actor, cadence=cadence, contact=contact, user=user
        )
        first = enrollment.actions.order_by("id").values_list("public_id", flat=True).first()
        return Response(
            ok(enrollment=self.enrollment_data(enrollment), action_id=first),
            status=status.HTTP_201_CREATED,
        )


@extend_schema(tags=["cadences"], parameters=[ENROLLMENT_ID])
class EnrollmentViewSet(_Scoped, viewsets.GenericViewSet):
    """A contact on a cadence: read it, or stop it."""

    queryset = Enrollment.objects.all()
    serializer_class = EnrollmentSerializer
    lookup_url_kwarg = "enrollment_id"
    lookup_value_regex = r"[0-9]+"
    required_scopes = {"retrieve": Scope.ACTIONS_READ, "stop": Scope.ACTIONS_WRITE}

    def get_object(self) -> Enrollment:
        enrollment = self.visible_enrollments().filter(pk=self.kwargs["enrollment_id"]).first()
        if enrollment is None:
            raise NotFound("No such enrollment.")
        return enrollment

    @extend_schema(responses=EnrollmentEnvelope)
    def retrieve(self, request: Request, enrollment_id: str) -> Response:
        return Response(ok(enrollment=EnrollmentSerializer(self.get_object()).data))

    @extend_schema(request=StopSerializer, responses=EnrollmentEnvelope)
    @route(detail=True, methods=["post"])
    def stop(self, request: Request, enrollment_id: str) -> Response:
        """Active → stopped (`manual` or `meeting_booked`); its pending actions are
        cancelled. 409 `enrollment_not_active` when it already ended."""
        enrollment = self.get_object()
        body = StopSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.enrollment_stop(enrollment=enrollment, actor=self.actor, **body.validated_data)
        return Response(ok(enrollment=self.enrollment_data(enrollment)))
