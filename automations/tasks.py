import json

from celery import shared_task


@shared_task(name="automations.dispatch_steps", ignore_result=True)
def dispatch_steps() -> int:
    """Every second (config/periodic_tasks.py): run due automation steps."""
    # Deferred like outreach's tasks: Celery imports this module when it discovers
    # tasks, and the engine (with the models) loads when a task first runs.
    from automations.engine import steps_dispatch  # noqa: PLC0415

    return steps_dispatch()


@shared_task(name="automations.post_approval_slack", ignore_result=True)
def post_approval_slack() -> int:
    """Every 30 s (config/periodic_tasks.py): post newly pending actions to each
    workspace's Slack-compatible approval webhook (`approval_slack_webhook_url`)
    through the SSRF-safe client. What to post and its bookkeeping are outreach's
    (outreach/approval_requests.py); a failed post is retried by a later tick."""
    # Deferred like dispatch_steps: models load when the task first runs.
    from automations.outbound import OutboundError, safe_request  # noqa: PLC0415
    from outreach.approval_requests import (  # noqa: PLC0415
        approval_slack_claim,
        approval_slack_failed,
        approval_slack_posted,
    )

    posted = 0
    for batch in approval_slack_claim():
        try:
            response = safe_request(
                "POST",
                batch.webhook_url,
                headers={"Content-Type": "application/json"},
                content=json.dumps(batch.payload),
                timeout=10.0,
                max_redirects=0,
            )
        except OutboundError as exc:
            approval_slack_failed(notice_ids=batch.notice_ids, error=str(exc))
            continue
        if 200 <= response.status_code < 300:
            approval_slack_posted(notice_ids=batch.notice_ids)
            posted += 1
        else:
            approval_slack_failed(notice_ids=batch.notice_ids, error=f"HTTP {response.status_code}")
    return posted
