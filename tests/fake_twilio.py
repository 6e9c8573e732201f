"""The fake Twilio server now lives in bench/fake_twilio_server.py (`carepath bench` drives it too); tests import it here."""

from bench.fake_twilio_server import *  # noqa: F403
from bench.fake_twilio_server import FakeTwilio  # noqa: F401
