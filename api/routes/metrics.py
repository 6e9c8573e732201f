"""`/metrics`: Prometheus text format, read from the database and the broker at scrape time.

Requires a bearer token of role `ops` or `admin` (Prometheus: `authorization: {type: Bearer, credentials_file: …}`).
Labels come only from closed sets (message kind and status, escalation severity, workflow stage, queue name): no
patient data can reach a label or a value.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from api.deps import Now, OpsUser, ServicesDep
from api.schemas import error_responses
from models.queries.ops import database_snapshot
from workers.ops import QUEUES, worker_snapshot
from workers.runtime import Services
from workflows.stages import Stage

log = logging.getLogger("carepath.metrics")
router = APIRouter(tags=["ops"])
SEVERITIES = ("routine", "urgent", "emergency")


class CarepathCollector(Collector):
    """Reads `database_snapshot` and `worker_snapshot` each time it is collected."""

    def __init__(self, services: Services, now: datetime) -> None:
        self.services, self.now = services, now

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snap = database_snapshot(self.services.engine, self.now, self.services.settings.clinic_timezone)
        timers, messages, escalations = snap.timers, snap.messages, snap.escalations
        yield GaugeMetricFamily("carepath_timer_lag_seconds",
                                "How late the oldest due, unclaimed timer is (0 when none is due).",
                                value=timers.oldest_due_lag_seconds or 0.0)
        yield GaugeMetricFamily("carepath_timers_due_unclaimed", "Timers due now but not yet claimed by a scheduler.",
                                value=timers.due_unclaimed)
        yield GaugeMetricFamily("carepath_timers_pending", "Timers waiting (due or not).", value=timers.pending)
        yield GaugeMetricFamily("carepath_timers_fired_last_minute", "Timers fired in the last minute.",
                                value=timers.fired_last_minute)
        yield GaugeMetricFamily("carepath_outbox_pending", "Outbox messages waiting to be handed to a worker.",
                                value=messages.pending)
        yield GaugeMetricFamily("carepath_outbox_sending", "Outbox messages claimed by a worker, outcome not yet known.",
                                value=messages.sending)
        today = GaugeMetricFamily("carepath_messages_today",
                                  "Messages by kind and status on the clinic's current local day.",
                                  labels=["kind", "status"])
        for (kind, status), count in sorted(messages.today.items()):
            today.add_metric([kind, status], count)
        yield today
        open_ = GaugeMetricFamily("carepath_escalations_open", "Escalations not yet acknowledged, by severity.",
                                  labels=["severity"])
        for severity in sorted({*SEVERITIES, *escalations.open_by_severity}):
            open_.add_metric([severity], escalations.open_by_severity.get(severity, 0))
        yield open_
        yield GaugeMetricFamily("carepath_escalations_overdue",
                                "Open escalations past their acknowledgement deadline.", value=escalations.overdue)
        yield GaugeMetricFamily("carepath_escalation_oldest_open_age_seconds",
                                "Age of the oldest unacknowledged escalation (0 when none).",
                                value=escalations.oldest_open_age_seconds or 0.0)
        stages = GaugeMetricFamily("carepath_workflows", "Workflows by stage.", labels=["stage"])
        for stage in sorted({*(s.value for s in Stage), *snap.workflows_by_stage}):
            stages.add_metric([stage], snap.workflows_by_stage.get(stage, 0))
        yield stages
        yield from self._workers()

    def _workers(self) -> Iterator[GaugeMetricFamily]:
        stats = worker_snapshot(self.services)
        yield GaugeMetricFamily("carepath_workers_reachable",
                                "1 when the broker answers (always 1 in the in-process mode), else 0.",
                                value=1 if stats.reachable else 0)
        yield GaugeMetricFamily("carepath_tasks_inline", "1 when tasks run in-process (no workers, no broker).",
                                value=1 if stats.inline else 0)
        if stats.inline or not stats.reachable:
            return  # unknown, not zero: absent series rather than misleading ones
        yield GaugeMetricFamily("carepath_workers_online", "Celery workers answering an inspect broadcast.",
                                value=stats.online)
        depth = GaugeMetricFamily("carepath_queue_depth", "Tasks waiting in the broker, by queue.", labels=["queue"])
        for queue in QUEUES:
            depth.add_metric([queue], stats.queue_depth.get(queue, 0))
        yield depth
        yield GaugeMetricFamily("carepath_task_failures_last_hour", "Celery task failures in the last hour.",
                                value=stats.failed_last_hour)
        yield GaugeMetricFamily("carepath_task_retries_last_hour", "Celery task retries in the last hour.",
                                value=stats.retried_last_hour)


@router.get("/metrics", responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
                                          "description": "Prometheus text format"}, **error_responses(401, 403)},
            response_class=Response,
            summary="Prometheus metrics (ops or admin token)")
def metrics(svc: ServicesDep, now: Now, user: OpsUser) -> Response:
    """Prometheus text exposition format, computed at scrape time."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CarepathCollector(svc, now))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
