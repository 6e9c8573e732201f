"""The one Celery app. `celery -A config.worker worker` (which installs the services first) and `carepath worker` run it.

Configured from settings; creating it connects to nothing. Tasks are idempotent (they claim their row in the database
before acting), so they are acknowledged late and re-queued if their worker dies.
"""

from __future__ import annotations

from celery import Celery

from workers.settings import Settings

TIMER_QUEUE = "timers"
SMS_QUEUE = "sms"
TEXT_QUEUE = "texts"  # patients' texts, applied from the inbox
# Texts with crisis language. A worker takes from its queues in turn, so a crisis text waits for at most one task of
# each other queue per free slot, never behind a backlog of reminders or other texts.
CRISIS_QUEUE = "crisis"
WORKER_QUEUES = (CRISIS_QUEUE, TEXT_QUEUE, TIMER_QUEUE, SMS_QUEUE)


def make_app(settings: Settings | None = None) -> Celery:
    settings = settings or Settings()
    celery = Celery("carepath", include=["workers.tasks"])
    celery.conf.update(
        broker_url=settings.redis_url,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,  # outcomes live in the database, not in a result backend
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,  # a worker holds one SMS at a time: a crash strands at most one
        task_soft_time_limit=30,
        task_time_limit=60,
        task_routes={"workers.tasks.fire_timer": {"queue": TIMER_QUEUE},
                     "workers.tasks.fire_timers": {"queue": TIMER_QUEUE},
                     "workers.tasks.deliver_message": {"queue": SMS_QUEUE},
                     "workers.tasks.deliver_messages": {"queue": SMS_QUEUE},
                     "workers.tasks.apply_inbound_text": {"queue": TEXT_QUEUE}},
        task_default_queue=TIMER_QUEUE,
        broker_connection_retry_on_startup=True,
        # Retries wait seconds, far below this; anything lost beyond it is found again by the scheduler's sweeper.
        broker_transport_options={"visibility_timeout": 3600},
        # The embedded mode runs the same task code in the calling process.
        task_always_eager=settings.tasks == "inline",
        task_eager_propagates=True,
        worker_hijack_root_logger=False,
    )
    return celery


app = make_app()
