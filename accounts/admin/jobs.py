"""Background jobs in the admin: a read-only list and each job's progress page.

The progress page (the job's change page) shows a `<progress>` bar, the rows
done of the total, the errors so far and the status; `job_progress.js` polls
`<id>/progress.json` (one query for the job past the session's) every second
until the job ends, then offers "Download errors (CSV)" when rows were
skipped. Scoped like every admin page: a superuser sees every job; other staff
the jobs they started in their workspaces (every job of their workspaces with
`accounts.view_backgroundjob`). Another workspace's job, its JSON and its
errors file are 404.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from accounts.admin.common import ReadOnlyAdmin, WorkspaceScopedAdmin
from accounts.jobs import job_kind
from accounts.models import BackgroundJob, Membership
from accounts.services import background_job_errors_csv

POLL_SECONDS = 1


def job_state(job: BackgroundJob) -> dict[str, Any]:
    """What the progress page shows, as its JSON endpoint answers it."""
    return {
        "id": job.pk,
        "status": job.status,
        "status_label": job.get_status_display(),
        "total": job.total,
        "done": job.done,
        "error_count": job.error_count,
        "percent": job.percent,
        "ended": job.ended,
        "failure_message": job.failure_message,
    }


@admin.register(BackgroundJob)
class BackgroundJobAdmin(ReadOnlyAdmin, WorkspaceScopedAdmin):
    list_display = ["__str__", "kind_label", "status", "progress", "error_count", "created_at"]
    list_filter = ["status", "kind"]
    list_select_related = ["workspace"]
    search_fields = ["description"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = admin.ModelAdmin.get_queryset(self, request).defer("payload")
        if request.user.is_superuser:
            return queryset
        # Staff see the jobs they started; with accounts.view_backgroundjob, every
        # job of their workspaces. Always within their workspaces (or their own
        # job spanning several).
        member_of = Membership.objects.filter(user=request.user).values("workspace_id")
        if request.user.has_perm("accounts.view_backgroundjob"):
            return queryset.filter(
                Q(workspace_id__in=member_of) | Q(workspace__isnull=True, created_by=request.user)
            )
        return queryset.filter(
            Q(workspace_id__in=member_of) | Q(workspace__isnull=True), created_by=request.user
        )

    # Read-only: jobs are started by the pages that need them (contacts import,
    # bulk decisions) and change only by running.
    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Any staff user: get_queryset narrows it to the jobs they may see.
        return request.user.is_active and request.user.is_staff

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    @admin.display(description="Kind", ordering="kind")
    def kind_label(self, obj: BackgroundJob) -> str:
        kind = job_kind(obj.kind)
        return kind.label if kind is not None else obj.kind

    @admin.display(description="Progress")
    def progress(self, obj: BackgroundJob) -> str:
        return format_html(
            '<progress max="{}" value="{}"></progress> {} / {}',
            obj.total or 1,
            obj.done,
            f"{obj.done:,}",
            f"{obj.total:,}",
        )

    def get_urls(self) -> list:
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        return [
            path(
                "<int:object_id>/progress.json",
                view(self.progress_json_view),
                name="{}_{}_progress".format(*info),
            ),
            path(
                "<int:object_id>/errors.csv",
                view(self.errors_csv_view),
                name="{}_{}_errors".format(*info),
            ),
            *super().get_urls(),
        ]

    def _job(self, request: HttpRequest, object_id: Any) -> BackgroundJob:
        if not self.has_view_permission(request):
            raise Http404
        job = self.get_queryset(request).filter(pk=object_id).first()
        if job is None:
            raise Http404("No such job.")
        return job

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None
    ) -> HttpResponse:
        if not str(object_id).isdigit():
            raise Http404
        job = self._job(request, object_id)
        kind = job_kind(job.kind)
        info = self.opts.app_label, self.opts.model_name
        context = {
            **self.admin_site.each_context(request),
            "title": str(job),
            "subtitle": None,
            "opts": self.opts,
            "original": job,
            "job": job,
            "state": job_state(job),
            "kind_label": kind.label if kind is not None else job.kind,
            "progress_url": reverse("admin:{}_{}_progress".format(*info), args=[job.pk]),
            "errors_url": reverse("admin:{}_{}_errors".format(*info), args=[job.pk]),
            "poll_ms": POLL_SECONDS * 1000,
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/accounts/backgroundjob/progress.html", context)

    def progress_json_view(self, request: HttpRequest, object_id: int) -> JsonResponse:
        job = self._job(request, object_id)
        response = JsonResponse(job_state(job))
        response["Cache-Control"] = "no-store"
        return response

    def errors_csv_view(self, request: HttpRequest, object_id: int) -> StreamingHttpResponse:
        job = self._job(request, object_id)
        response = StreamingHttpResponse(
            background_job_errors_csv(job=job), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="job-{job.pk}-errors.csv"'
        return response
