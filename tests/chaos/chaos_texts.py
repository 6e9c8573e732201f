"""Patients' texts during the chaos: signed inbound webhooks posted to a real `carepath api` at seeded moments.

The texters are referred patients with no question open, writing free text and digits: each text is recorded in
their history and answered by nothing, so they add no outbound message to the run's count. A text the API could
not take (PostgreSQL down: it answers 5xx) is posted again a second later with the same MessageSid, as Twilio's
fallback URL would; what must hold afterwards is that every text is in its patient's history exactly once.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
from e2e.e2e_support import E2E, SMS_PATH
from fake_twilio import FakeTwilio
from twilio.request_validator import RequestValidator

BODIES = ("running late", "1", "see you then", "7", "can someone call me?", "2")
RETRY_SECONDS = 1.0


@dataclass(order=True)
class Text:
    at: float  # seconds after the chaos started
    phone: str = field(compare=False)
    body: str = field(compare=False)
    sid: str = field(compare=False)
    workflow_id: str = field(compare=False)


@dataclass
class TextPoster:
    world: E2E
    texts: list[Text]
    give_up_after: float  # seconds after the chaos started
    answers: Counter = field(default_factory=Counter)  # HTTP status (0: no answer) of every attempt
    unposted: list[str] = field(default_factory=list)
    _thread: threading.Thread | None = None

    @classmethod
    def plan(cls, world: E2E, texters: dict[str, str], rng: random.Random, per_texter: int, window: float,
             give_up_after: float) -> TextPoster:
        """`per_texter` texts from each texter (workflow id → phone) at seeded moments within `window` seconds."""
        texts = [Text(rng.uniform(0, window), phone, rng.choice(BODIES), f"SMchaos{secrets.token_hex(14)}", workflow)
                 for workflow, phone in texters.items() for _ in range(per_texter)]
        return cls(world, sorted(texts), give_up_after)

    def start(self) -> None:
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="chaos-texts", daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> None:
        assert self._thread is not None
        self._thread.join(timeout)

    @property
    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    def _run(self) -> None:
        validator = RequestValidator(self.world.fake.auth_token)
        signed_url = self.world.receiver.public_url + SMS_PATH
        waiting = list(self.texts)  # (due moment order); a refused text goes back with a later moment
        with httpx.Client(base_url=self.world.api_url, timeout=10) as client:
            while waiting:
                text = waiting.pop(0)
                delay = text.at - (time.monotonic() - self._started)
                if delay > 0:
                    time.sleep(delay)
                status = self._post(client, validator, signed_url, text)
                self.answers[status] += 1
                if 200 <= status < 300:
                    continue
                if time.monotonic() - self._started > self.give_up_after:
                    self.unposted.append(text.sid)
                    continue
                later = Text(time.monotonic() - self._started + RETRY_SECONDS, text.phone, text.body, text.sid,
                             text.workflow_id)
                waiting.append(later)
                waiting.sort()

    def _post(self, client: httpx.Client, validator: RequestValidator, signed_url: str, text: Text) -> int:
        params = {"From": text.phone, "To": FakeTwilio.FROM_NUMBER, "Body": text.body, "MessageSid": text.sid,
                  "AccountSid": self.world.fake.account_sid, "NumMedia": "0"}
        try:
            return client.post(SMS_PATH, data=params,
                               headers={"X-Twilio-Signature": validator.compute_signature(signed_url, params)}
                               ).status_code
        except httpx.HTTPError:
            return 0

    def summary(self) -> str:
        refused = sum(n for status, n in self.answers.items() if not 200 <= status < 300)
        return (f"texts: {len(self.texts)} posted, {refused} attempts refused and posted again "
                f"(answers {dict(sorted(self.answers.items()))})")
