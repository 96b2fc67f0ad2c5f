"""The helpers the other tests count on (tests/support/): the receivers count a request as
delivered only when it arrived whole and was answered with a 2xx; the frozen clock is the one
every module reads."""

from __future__ import annotations

import http.client
import socket
import time
from datetime import timedelta

from statuspage.clock import utcnow
from statuspage.web import public
from tests.support import NOW
from tests.support.receivers import Reply, verify_webhook


def wait_for(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the receiver did not record the request"
        time.sleep(0.01)


def test_whole_requests_on_one_connection_are_answered_and_delivered(receiver):
    connection = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=5)
    try:
        for body in (b'{"n": 1}', b'{"n": 2}'):
            connection.request("POST", "/hook", body=body)
            response = connection.getresponse()
            assert (response.status, response.read()) == (200, b"ok")
    finally:
        connection.close()
    assert [r.body for r in receiver.delivered()] == [b'{"n": 1}', b'{"n": 2}']
    assert all(r.complete for r in receiver.requests)


def test_a_request_whose_sender_died_before_the_whole_body_is_not_delivered(receiver):
    # What a worker killed between writing the headers and the body leaves behind.
    answered = []
    receiver.respond = lambda request: answered.append(request) or Reply()
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=5) as sender:
        sender.sendall(b'POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"half')
    wait_for(lambda: receiver.requests)
    (request,) = receiver.requests
    assert (request.complete, request.status, request.body) == (False, None, b'{"half')
    assert receiver.arrived == 1
    assert answered == [] and receiver.delivered() == []


def test_verify_webhook_checks_the_standard_webhooks_signature():
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    # The example of the Standard Webhooks specification's reference libraries.
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    body = b'{"test": 2432232314}'
    assert verify_webhook(secret, headers, body)
    assert not verify_webhook(secret, headers, body + b" ")
    assert not verify_webhook(secret, {**headers, "webhook-signature": ""}, body)


def test_the_frozen_clock_is_the_one_every_module_reads(frozen_clock):
    # `public` imported utcnow by name, as every module does.
    assert utcnow() == public.utcnow() == NOW
    assert frozen_clock.advance(minutes=5) == NOW + timedelta(minutes=5)
    assert public.utcnow() == NOW + timedelta(minutes=5)
