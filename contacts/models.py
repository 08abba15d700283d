"""Contacts. The models arrive with the contacts issue; the lifecycle stages are
already needed by outreach's `update_lifecycle_stage` action."""

from django.db import models


class LifecycleStage(models.TextChoices):
    LEAD = "lead"
    PROSPECT = "prospect"
    MQL = "mql"
    SQL = "sql"
    OPPORTUNITY = "opportunity"
    CUSTOMER = "customer"
    EVANGELIST = "evangelist"
    SUBSCRIBER = "subscriber"
    OTHER = "other"
