"""/v1/contacts: the Pathbound contacts facade (seed 002)."""

from __future__ import annotations

import math

from django.db.models import Count, Prefetch, Q, Subquery, Window
from django.db.models.functions import RowNumber
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action as route
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.actors import Actor
from accounts.models import Scope
from accounts.tenancy import WorkspaceScopedMixin
from config.exceptions import NotFound
from config.responses import ok
from contacts import services
from contacts.api.serializers import (
    BatchSerializer,
    ContactCreateSerializer,
    ContactListParams,
    ContactSerializer,
    ContactSummarySerializer,
    ContactUpdateSerializer,
    ConversationListParams,
    ConversationSerializer,
    EmailThreadSerializer,
    EventListParams,
    EventSerializer,
    NoteSerializer,
    NoteWriteSerializer,
)
from contacts.models import (
    Contact,
    ContactEvent,
    Conversation,
    ConversationChannel,
    ConversationStatus,
    Message,
    Note,
)
from contacts.profile import contact_actions
from contacts.properties import properties_of
from contacts.selectors import contacts_filtered, contacts_sorted

RECENT = 10
ID = r"ct_[0-9a-z]+"


ANY_OBJECT = OpenApiResponse(OpenApiTypes.OBJECT)


@extend_schema(tags=["contacts"])
class ContactViewSet(WorkspaceScopedMixin, viewsets.GenericViewSet):
    """Contacts of the caller's workspace (every member sees them all)."""

    queryset = Contact.objects.select_related("company")
    serializer_class = ContactSerializer
    lookup_url_kwarg = "contact_id"
    lookup_value_regex = ID
    required_scopes = {
        "list": Scope.CONTACTS_READ,
        "retrieve": Scope.CONTACTS_READ,
        "events": Scope.CONTACTS_READ,
        "conversations": Scope.CONTACTS_READ,
        "email_threads": Scope.CONTACTS_READ,
        "notes:GET": Scope.CONTACTS_READ,
        "notes:POST": Scope.CONTACTS_WRITE,
        "create": Scope.CONTACTS_WRITE,
        "update": Scope.CONTACTS_WRITE,
        "destroy": Scope.CONTACTS_WRITE,
        "note_detail": Scope.CONTACTS_WRITE,
        "batch": (Scope.CONTACTS_READ, Scope.CONTACTS_WRITE),
    }

    @property
    def actor(self) -> Actor:
        return Actor.for_api_key(self.api_key)

    def get_object(self) -> Contact:
        contact = self.get_queryset().filter(public_id=self.kwargs["contact_id"]).first()
        if contact is None:
            raise NotFound("No such contact.")
        return contact

    # --- list / create -------------------------------------------------------------
    @extend_schema(parameters=[ContactListParams], responses=ANY_OBJECT)
    def list(self, request: Request) -> Response:
        params = ContactListParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        filters = params.validated_data
        contacts = contacts_filtered(workspace=self.workspace, filters=filters)
        total = contacts.count()
        if filters["count_only"]:
            return Response(ok(count=total))
        page, limit = filters["page"], filters["limit"]
        contacts = contacts_sorted(
            contacts, sort_by=filters["sort_by"], sort_dir=filters["sort_dir"]
        )
        rows = list(contacts[(page - 1) * limit : page * limit])
        serializer = (
            ContactSummarySerializer if filters.get("fields") == "summary" else ContactSerializer
        )
        return Response(
            ok(
                contacts=serializer(rows, many=True).data,
                pagination={
                    "page": page,
                    "limit": limit,
                    "total_pages": math.ceil(total / limit),
                    "total_items": total,
                },
            )
        )

    @extend_schema(request=ContactCreateSerializer, responses={201: ANY_OBJECT})
    def create(self, request: Request) -> Response:
        body = ContactCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        contact = services.contact_create(
            workspace=self.workspace,
            actor=self.actor,
            email=body.validated_data["email"],
            properties=body.validated_data["properties"],
            visitor_ids=body.validated_data["visitor_id"],
        )
        return Response(ok(contact=ContactSerializer(contact).data), status=status.HTTP_201_CREATED)

    # --- one contact ---------------------------------------------------------------
    @extend_schema(responses=ANY_OBJECT)
    def retrieve(self, request: Request, contact_id: str) -> Response:
        contact = self.get_object()
        actions = contact_actions(contact, limit=RECENT)  # outreach's (contacts.profile)
        recent_events = list(ContactEvent.objects.filter(contact=contact)[:RECENT])
        conversations = Conversation.objects.filter(contact=contact)
        profile = {
            "properties": properties_of(contact),
            "company": (
                {
                    "id": contact.company.public_id,
                    "name": contact.company.name,
                    "domain": contact.company.domain,
                    "industry": contact.company.industry,
                    "size": contact.company.size,
                    "country": contact.company.country,
                }
                if contact.company_id
                else None
            ),
            "suppression": ContactSerializer().get_suppression(contact),
            "action_counts": actions.counts,
            "last_event": EventSerializer(recent_events[0]).data if recent_events else None,
            "open_conversations": conversations.filter(status=ConversationStatus.OPEN).count(),
            "note_count": Note.objects.filter(contact=contact).count(),
            "visitor_ids": list(contact.visitor_ids.values_list("visitor_id", flat=True)),
        }
        return Response(
            ok(
                contact=ContactSerializer(contact).data,
                unified_profile=profile,
                actions=actions.recent,
                events=EventSerializer(recent_events, many=True).data,
            )
        )

    @extend_schema(request=ContactUpdateSerializer, responses=ANY_OBJECT)
    def update(self, request: Request, contact_id: str) -> Response:
        contact = self.get_object()
        body = ContactUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        contact = services.contact_update(
            contact=contact,
            actor=self.actor,
            properties=body.validated_data["properties"],
            visitor_ids=body.validated_data["visitor_id"],
        )
        return Response(ok(contact=ContactSerializer(contact).data))

    @extend_schema(responses={200: ANY_OBJECT})  # 200 with a body, not 204
    def destroy(self, request: Request, contact_id: str) -> Response:
        services.contact_delete(contact=self.get_object(), actor=self.actor)
        return Response(ok(deleted=contact_id))

    # --- timeline and conversations --------------------------------------------------
    @extend_schema(parameters=[EventListParams], responses=ANY_OBJECT)
    @route(detail=False, methods=["get"], url_path=f"events/(?P<contact_id>{ID})")
    def events(self, request: Request, contact_id: str) -> Response:
        """Events outlive their contact: they are found by the id snapshot."""
        params = EventListParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        all_events = ContactEvent.objects.for_workspace(self.workspace).filter(
            contact_public_id=contact_id
        )
        events = all_events
        if params.validated_data.get("event_type"):
            events = events.filter(type=params.validated_data["event_type"])
        order = "occurred_at" if params.validated_data["sort_dir"] == "asc" else "-occurred_at"
        rows = list(
            events.order_by(order, order.replace("occurred_at", "id"))[
                : params.validated_data["limit"]
            ]
        )
        if (
            not rows
            and not self.get_queryset().filter(public_id=contact_id).exists()
            and not all_events.exists()
        ):
            raise NotFound("No such contact.")
        return Response(ok(events=EventSerializer(rows, many=True).data))

    @extend_schema(parameters=[ConversationListParams], responses=ANY_OBJECT)
    @route(detail=True, methods=["get"])
    def conversations(self, request: Request, contact_id: str) -> Response:
        contact = self.get_object()
        params = ConversationListParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        options = params.validated_data
        threads = (
            Conversation.objects.filter(contact=contact)
            .annotate(message_count=Count("messages"))
            .order_by("-last_message_at", "-id")
        )
        if options["include_messages"]:
            # The newest N messages of each thread, in one query.
            newest = (
                Message.objects.annotate(
                    rank=Window(RowNumber(), partition_by="conversation_id", order_by="-sent_at")
                )
                .filter(rank__lte=options["messages_per_thread"])
                .order_by("sent_at", "id")
            )
            threads = threads.prefetch_related(
                Prefetch("messages", queryset=newest, to_attr="recent_messages")
            )
        rows = list(threads[: options["limit"]])
        data = ConversationSerializer(
            rows, many=True, context={"include_messages": options["include_messages"]}
        ).data
        return Response(ok(conversations=data))

    @extend_schema(responses=ANY_OBJECT)
    @route(detail=True, methods=["get"], url_path="email-threads")
    def email_threads(self, request: Request, contact_id: str) -> Response:
        """Compact Gmail-style threads; `thread_id` is what email_message takes."""
        contact = self.get_object()
        threads = (
            Conversation.objects.filter(contact=contact, channel=ConversationChannel.EMAIL)
            .annotate(message_count=Count("messages"))
            .order_by("-last_message_at", "-id")[:100]
        )
        return Response(ok(threads=EmailThreadSerializer(threads, many=True).data))

    # --- notes -------------------------------------------------------------------------
    @extend_schema(methods=["GET"], responses=ANY_OBJECT)
    @extend_schema(methods=["POST"], request=NoteWriteSerializer, responses={201: ANY_OBJECT})
    @route(detail=True, methods=["get", "post"])
    def notes(self, request: Request, contact_id: str) -> Response:
        contact = self.get_object()
        if request.method == "GET":
            notes = Note.objects.filter(contact=contact).select_related("contact")
            return Response(ok(notes=NoteSerializer(notes, many=True).data))
        body = NoteWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        note = services.note_create(
            contact=contact, actor=self.actor, content=body.validated_data["content"]
        )
        return Response(ok(note=NoteSerializer(note).data), status=status.HTTP_201_CREATED)

    @extend_schema(methods=["PATCH"], request=NoteWriteSerializer, responses=ANY_OBJECT)
    @extend_schema(methods=["DELETE"], responses={200: ANY_OBJECT})
    @route(detail=True, methods=["patch", "delete"], url_path=r"notes/(?P<note_id>note_[0-9a-z]+)")
    def note_detail(self, request: Request, contact_id: str, note_id: str) -> Response:
        contact = self.get_object()
        note = (
            Note.objects.filter(contact=contact, public_id=note_id)
            .select_related("contact")
            .first()
        )
        if note is None:
            raise NotFound("No such note.")
        if request.method == "DELETE":
            services.note_delete(note=note, actor=self.actor)
            return Response(ok(deleted=note_id))
        body = NoteWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        note = services.note_update(
            note=note, actor=self.actor, content=body.validated_data["content"]
        )
        return Response(ok(note=NoteSerializer(note).data))

    # --- batch -------------------------------------------------------------------------
    @extend_schema(request=BatchSerializer, responses=ANY_OBJECT)
    @route(detail=False, methods=["post"])
    def batch(self, request: Request) -> Response:
        body = BatchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        reading = bool(data.get("ids") or data.get("emails"))
        for needed, wanted in (
            (Scope.CONTACTS_READ, reading),
            (Scope.CONTACTS_WRITE, "upsert" in data),
        ):
            if wanted and not self.api_key.has_scope(needed):
                raise PermissionDenied(
                    f"This API key lacks the '{needed}' scope.", code="missing_scope"
                )
        payload: dict = {}
        if reading:
            ids, emails = data.get("ids", []), data.get("emails", [])
            found = list(
                self.get_queryset().filter(
                    Q(public_id__in=ids)
                    | Q(
                        pk__in=Subquery(
                            services.contacts_by_email(self.workspace, emails).values("pk")
                        )
                    )
                )
            )
            seen_ids = {c.public_id for c in found}
            seen_emails = {c.email.lower() for c in found}
            payload["contacts"] = ContactSerializer(found, many=True).data
            payload["not_found"] = {
                "ids": [i for i in ids if i not in seen_ids],
                "emails": [e for e in emails if e.strip().lower() not in seen_emails],
            }
        if "upsert" in data:
            results = services.contacts_batch_upsert(
                workspace=self.workspace, actor=self.actor, items=data["upsert"]
            )
            payload["results"] = [
                {
                    "index": r.index,
                    "email": r.email,
                    "status": r.status,
                    "contact_id": r.contact.public_id if r.contact else None,
                    **(
                        {
                            "error": {
                                "code": r.error.code,
                                "message": r.error.message,
                                "fields": r.error.fields,
                            }
                        }
                        if r.error
                        else {}
                    ),
                }
                for r in results
            ]
        return Response(ok(**payload))
