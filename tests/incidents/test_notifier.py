"""The notifier: background delivery, at most once per key and channel, every attempt recorded,
a broken channel or log never kills a worker."""

from __future__ import annotations

import threading
from typing import ClassVar

import pytest

from mlwarden.errors import ConfigError
from mlwarden.incidents.channels import Channel, Delivery, DeliveryStatus, WebhookChannel
from mlwarden.incidents.channels.policy import AlertingPolicy
from mlwarden.incidents.notifier import MemoryDeliveryLog, Notifier
from mlwarden.incidents.record import IncidentEvent, Notification

from .localservers import LOCAL, T0, http_receiver, note

FAST = {"backoff_s": 0.01, "max_backoff_s": 0.05}


class Exploding(Channel):
    """A channel with a bug (not registered: test-only)."""

    kind: ClassVar[str] = "exploding"

    def send(self, note: Notification, *, policy: AlertingPolicy = LOCAL) -> Delivery:
        raise RuntimeError("boom")


class FlakyLog(MemoryDeliveryLog):
    """A delivery log whose storage fails on the first write, or on every read."""

    def __init__(self, *, fail_reads: bool = False) -> None:
        super().__init__()
        self.fail_reads = fail_reads
        self.failed_writes = 0

    def delivered(self, channel: str, key: str) -> bool:
        if self.fail_reads:
            raise OSError("disk gone")
        return super().delivered(channel, key)

    def record(self, delivery: Delivery) -> None:
        if not self.failed_writes:
            self.failed_writes += 1
            raise OSError("disk full")
        super().record(delivery)


def test_retried_delivery_is_recorded_once_as_delivered() -> None:
    book = MemoryDeliveryLog()
    with http_receiver(500, 500) as rec:
        with Notifier(
            [WebhookChannel("ops", url=rec.url(), **FAST)], book, policy=LOCAL
        ) as notifier:
            notifier.submit(note())
            assert notifier.flush(10)
        assert rec.count == 3
    (d,) = book.deliveries
    assert (d.status, d.attempts, d.http_status) == (DeliveryStatus.DELIVERED, 3, 200)


def test_nothing_is_sent_twice_after_success() -> None:
    book = MemoryDeliveryLog()
    n = note()
    with http_receiver() as rec:
        with Notifier(
            [WebhookChannel("ops", url=rec.url(), **FAST)], book, policy=LOCAL
        ) as notifier:
            notifier.submit(n)
            notifier.submit(n)  # queued twice before the first is sent: still one POST
            assert notifier.flush(10)
            notifier.submit(n)
            assert notifier.flush(10)
            (again,) = notifier.deliver(n)
            # the next event of the same incident is a new key: it is sent
            notifier.submit(note(IncidentEvent.RESOLVED, sequence=1))
            assert notifier.flush(10)
        assert rec.count == 2
    assert again.status is DeliveryStatus.SKIPPED and again.attempts == 0
    assert [(d.key, d.status.value) for d in book.deliveries] == [
        (n.key, "delivered"),
        ("default/credit_risk/12/1/resolved", "delivered"),
    ]


def test_a_failed_key_is_sent_again_when_resubmitted() -> None:
    book = MemoryDeliveryLog()
    n = note()
    with http_receiver(400) as rec:
        notifier = Notifier([WebhookChannel("ops", url=rec.url(), **FAST)], book, policy=LOCAL)
        notifier.submit(n)
        assert notifier.flush(10)
        notifier.submit(n)
        assert notifier.close(10)
        assert rec.count == 2
    assert [d.status.value for d in book.deliveries] == ["failed", "delivered"]


def test_a_raising_channel_does_not_stop_the_others() -> None:
    book = MemoryDeliveryLog()
    with http_receiver() as rec:
        channels = [Exploding("buggy"), WebhookChannel("ops", url=rec.url(), **FAST)]
        with Notifier(channels, book, workers=1, policy=LOCAL) as notifier:
            notifier.submit(note())
            notifier.submit(note(IncidentEvent.RESOLVED, sequence=1))
            assert notifier.flush(10)
        assert rec.count == 2
    by_channel = {(d.channel, d.event): d for d in book.deliveries}
    assert len(by_channel) == 4
    assert by_channel["buggy", "opened"].status is DeliveryStatus.FAILED
    assert by_channel["buggy", "opened"].error == "RuntimeError: boom"
    assert by_channel["ops", "resolved"].status is DeliveryStatus.DELIVERED


def test_a_failing_log_write_does_not_kill_the_worker() -> None:
    book = FlakyLog()
    with http_receiver() as rec:
        with Notifier(
            [WebhookChannel("ops", url=rec.url(), **FAST)], book, policy=LOCAL
        ) as notifier:
            notifier.submit(note())
            notifier.submit(note(IncidentEvent.RESOLVED, sequence=1))
            assert notifier.flush(10)
        assert rec.count == 2
    assert book.failed_writes == 1 and [d.event for d in book.deliveries] == ["resolved"]


def test_an_unreadable_log_sends_nothing() -> None:
    book = FlakyLog(fail_reads=True)
    book.failed_writes = 1  # writes work
    with http_receiver() as rec:
        with Notifier(
            [WebhookChannel("ops", url=rec.url(), **FAST)], book, policy=LOCAL
        ) as notifier:
            notifier.submit(note())
            assert notifier.flush(10)
        assert rec.count == 0
    (d,) = book.deliveries
    assert d.status is DeliveryStatus.FAILED
    assert d.error == "not sent: the delivery log could not be read (disk gone)"


def test_submit_does_not_wait_for_the_network_and_keeps_order() -> None:
    book = MemoryDeliveryLog()
    with http_receiver(delay_s=0.5) as rec:
        with Notifier(
            [WebhookChannel("ops", url=rec.url(), **FAST)], book, policy=LOCAL
        ) as notifier:
            for i, event in enumerate(IncidentEvent):
                notifier.submit(note(event, sequence=i))
            # submit returned with the sends (0.5 s each) still going on in the background
            assert len(rec.requests) < len(IncidentEvent)
            assert notifier.flush(60)
        sent = [r.headers["X-Mlwarden-Event"] for r in rec.requests]
    assert sent == [e.value for e in IncidentEvent]


def test_routing_decides_who_gets_what_and_unrouted_notes_are_not_recorded() -> None:
    book = MemoryDeliveryLog()
    with http_receiver() as pager, http_receiver() as everyone:
        channels = [
            WebhookChannel("pager", url=pager.url(), min_severity="critical", **FAST),
            WebhookChannel("everyone", url=everyone.url(), **FAST),
        ]
        with Notifier(channels, book, workers=2, policy=LOCAL) as notifier:
            notifier.submit(note())  # severity high
            notifier.submit(note(severity="critical", sequence=1))
            assert notifier.flush(10)
        assert (pager.count, everyone.count) == (1, 2)
    assert sorted(d.channel for d in book.deliveries) == ["everyone", "everyone", "pager"]


def test_after_close_nothing_is_sent_but_it_is_recorded() -> None:
    book = MemoryDeliveryLog()
    with http_receiver() as rec:
        notifier = Notifier([WebhookChannel("ops", url=rec.url(), **FAST)], book, policy=LOCAL)
        assert notifier.close(5)
        notifier.submit(note())
        assert rec.count == 0
    (d,) = book.deliveries
    assert d.status is DeliveryStatus.FAILED and d.error == "not sent: the notifier was closed"


def test_close_with_a_stuck_channel_records_what_was_left() -> None:
    book = MemoryDeliveryLog()
    release, sending = threading.Event(), threading.Event()

    class Stuck(Channel):
        kind: ClassVar[str] = "stuck"

        def send(self, note: Notification, *, policy: AlertingPolicy = LOCAL) -> Delivery:
            sending.set()
            release.wait(10)
            return self.delivery(note, DeliveryStatus.DELIVERED, started_at=T0, attempts=1)

    notifier = Notifier([Stuck("slow")], book)
    notifier.submit(note())
    notifier.submit(note(IncidentEvent.RESOLVED, sequence=1))
    assert sending.wait(5)
    assert not notifier.close(0.2)
    assert [(d.event, d.status.value) for d in book.deliveries] == [("resolved", "failed")]
    release.set()  # the abandoned worker finishes what it was sending, then stops
    assert notifier.flush(5)
    assert [d.event for d in book.deliveries] == ["resolved", "opened"]
    notifier._threads[0].join(5)
    assert not notifier._threads[0].is_alive()


def test_channels_are_validated_and_names_unique() -> None:
    with pytest.raises(ConfigError, match="Two channels are named 'ops'"):
        Notifier(
            [
                WebhookChannel("ops", url="https://a.example"),
                WebhookChannel("ops", url="https://b.example"),
            ],
            MemoryDeliveryLog(),
        )
    with pytest.raises(ConfigError, match="The 'url' parameter of webhook channel 'x'"):
        Notifier([WebhookChannel("x", url="nope")], MemoryDeliveryLog())
    with pytest.raises(ConfigError, match="The 'workers' parameter of the notifier"):
        Notifier([], MemoryDeliveryLog(), workers=0)
