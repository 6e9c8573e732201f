"""The demo's simulated patients: an SMS gateway that, after sending, has the patient's phone answer a few seconds later.

Only with `CAREPATH_DEMO_REPLIES` (on by default with `carepath standalone --demo`, refused by the settings in
production and with Twilio). It wraps the console gateway: the send itself is the console's. A text that asks for an
answer (`workers/demo_replies.py` decides, per phone, from the demo seed) gets one after about
`CAREPATH_DEMO_REPLY_SECONDS`, and the answer comes in through `workers.inbound.accept_text`, what the Twilio webhook
does with a patient's text: the inbox stores it, the pathway applies it, the console shows it.

Answers wait on one thread of their own, never the sender's: the send happens while the outbox row is claimed, and
the answer is a new text that must find it sent.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from datetime import UTC, datetime

from models.ports import SmsGateway
from workers import demo_replies
from workers.runtime import Services

log = logging.getLogger("carepath.demo_phones")


class DemoPhones:
    """An `SmsGateway`: sends through `inner`, then answers as the demo's patients would."""

    def __init__(self, inner: SmsGateway, svc: Services, seed: int, reply_seconds: float) -> None:
        self.inner, self.svc, self.seed, self.reply_seconds = inner, svc, seed, reply_seconds
        self.show_bodies = getattr(inner, "show_bodies", False)  # the console's own rule: bodies in development only
        self._phones: dict[str, demo_replies.Phone] = {}
        self._due: list[tuple[float, int, str, str, str | None, str]] = []  # (when, order, sid, from, to, body)
        self._order = itertools.count()
        self._busy = 0  # answers taken off the queue and not yet stored
        self._lock = threading.Condition()
        threading.Thread(target=self._run, name="carepath-demo-phones", daemon=True).start()

    # The gateway interface: the console's send, then an answer on its way.
    def send(self, message_id: str, kind: str, to: str, body: str, sender: str | None = None) -> str:
        provider_id = self.inner.send(message_id, kind, to, body, sender=sender)
        if demo_replies.answers(to, kind, body):
            with self._lock:  # one phone's draws in one order, whichever thread sends
                phone = self._phone(to)
                answer, wait = demo_replies.reply(phone, kind), demo_replies.delay(phone, self.reply_seconds)
            # The MessageSid names the message answered: a resend of it (reconciliation) brings no second answer.
            self._later(wait, f"demo-{message_id}", to, sender, answer)
        return provider_id

    def find_sent(self, message_id: str, to: str, body: str, since: datetime) -> str | None:
        return self.inner.find_sent(message_id, to, body, since)

    def __getattr__(self, name: str):
        """The console gateway's own record (`sent`, `senders`): the sends are its."""
        if name == "inner":  # not set yet (a copy being built): no lookup through it
            raise AttributeError(name)
        return getattr(self.inner, name)

    def text_first(self, number: str, key: str, to_phone: str | None = None) -> None:
        """The patient on `number` texts the clinic first, a question for the front desk; once per `key`."""
        with self._lock:
            phone = self._phone(number)
            body, wait = demo_replies.opener(phone), demo_replies.delay(phone, self.reply_seconds)
        self._later(wait, f"demo-first-{key}", number, to_phone, body)

    def settle(self, timeout: float) -> bool:
        """Wait until every answer on its way has been stored and applied; False if some still wait after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._due or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(min(left, 0.1))
        return True

    def _phone(self, number: str) -> demo_replies.Phone:
        with self._lock:
            return self._phones.setdefault(number, demo_replies.phone_for(self.seed, number))

    def _later(self, seconds: float, sid: str, number: str, to_phone: str | None, body: str) -> None:
        with self._lock:
            heapq.heappush(self._due, (time.monotonic() + seconds, next(self._order), sid, number, to_phone, body))
            self._lock.notify_all()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._due or self._due[0][0] > time.monotonic():
                    self._lock.wait(self._due[0][0] - time.monotonic() if self._due else None)
                _, _, sid, number, to_phone, body = heapq.heappop(self._due)
                self._busy += 1
            try:
                self._answer(sid, number, to_phone, body)
            finally:
                with self._lock:
                    self._busy -= 1
                    self._lock.notify_all()

    def _answer(self, sid: str, number: str, to_phone: str | None, body: str) -> None:
        from workers.inbound import accept_text  # the inbound path imports the tasks' settings on first use

        try:
            arrival = accept_text(self.svc, sid, number, to_phone, body, datetime.now(UTC))
        except Exception as exc:  # a demo nicety: its failure must not stop the next answer
            log.warning("simulated reply %s not stored: %s", sid, type(exc).__name__)
            return
        detail = f" body={body!r}" if self.show_bodies else ""
        log.info("sms received from a simulated phone sid=%s inbox=%s%s", sid, arrival.id, detail)
