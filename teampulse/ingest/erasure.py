"""`teampulse forget`: record a person's erasure on the erasures topic.

The identifier is keyed here exactly as the ingest stage keys an actor, so the secret must be
the workers' own: without TEAMPULSE_PSEUDONYM_SECRET in the environment the command refuses
rather than erase a pseudonym nobody has. The record is acknowledged by every in-sync
replica before the command reports success; the workers apply it within seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError

from teampulse.contract.erasure import Erasure, erasure_of
from teampulse.kafka.security import kafka_client_options, kafka_connection_problem
from teampulse.settings import DEV_PSEUDONYM_SECRET, Settings

__all__ = ["ForgetError", "record_erasures"]

SECRET_VARIABLE = "TEAMPULSE_PSEUDONYM_SECRET"
REQUEST_TIMEOUT_MS = 10_000


class ForgetError(Exception):
    """The erasure was not recorded; the message names the cause and the fix."""


def _erasures(
    settings: Settings, identifiers: Iterable[str], environ: Mapping[str, str], now: float
) -> list[Erasure]:
    if not environ.get(SECRET_VARIABLE):
        raise ForgetError(
            f"{SECRET_VARIABLE} is not set: the person's pseudonym is keyed with it, and "
            "with another key than the workers' the erasure would name someone who does not "
            f"exist. Set {SECRET_VARIABLE} as the workers have it and run forget again "
            f"(a development stack uses {DEV_PSEUDONYM_SECRET!r})."
        )
    erasures: list[Erasure] = []
    for identifier in identifiers:
        try:
            erasures.append(erasure_of(identifier, settings.pseudonym_secret, now))
        except ValueError as exc:
            raise ForgetError(f"cannot erase {identifier!r}: {exc}") from None
    if not erasures:
        raise ForgetError("name at least one person (an e-mail or another identifier)")
    return erasures


async def _topic_exists(settings: Settings, topic: str) -> bool:
    admin = AIOKafkaAdminClient(
        **kafka_client_options(settings), request_timeout_ms=REQUEST_TIMEOUT_MS
    )
    try:
        await admin.start()
        return topic in set(await admin.list_topics())
    finally:
        await admin.close()


async def record_erasures(
    settings: Settings, identifiers: Iterable[str], environ: Mapping[str, str], now: float
) -> list[Erasure]:
    """Write one erasure record per identifier; returns them once Kafka acknowledged all."""
    erasures = _erasures(settings, identifiers, environ, now)
    topic = settings.topic("erasures")
    try:
        exists = await _topic_exists(settings, topic)
    except KafkaConnectionError:
        problem = await kafka_connection_problem(settings)
        raise ForgetError(f"nothing was erased: {problem.message}; then run forget again") from None
    if not exists:
        raise ForgetError(
            f"the erasures topic {topic} does not exist: nothing was erased. Create "
            "TeamPulse's topics with `teampulse topics` (a worker also does at start), then "
            "run forget again."
        )
    producer = AIOKafkaProducer(
        **kafka_client_options(settings), acks="all", request_timeout_ms=REQUEST_TIMEOUT_MS
    )
    try:
        await producer.start()
    except KafkaConnectionError:
        problem = await kafka_connection_problem(settings)
        raise ForgetError(f"nothing was erased: {problem.message}; then run forget again") from None
    try:
        sent = [
            await producer.send(topic, key=erasure.key(), value=erasure.to_wire())
            for erasure in erasures
        ]
        for ack in sent:
            await ack
    except KafkaError as exc:
        raise ForgetError(
            f"Kafka did not acknowledge the erasure ({exc!r}): run forget again (recording "
            "an erasure twice is harmless)."
        ) from None
    finally:
        await producer.stop()
    return erasures
