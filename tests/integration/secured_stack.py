"""A Kafka broker with a SASL_SSL listener (SCRAM-SHA-512, client certificates required) and a
Redis server with TLS only and an ACL user, started from scratch for the security tests.

The certificates come from `openssl`: a test CA, a server certificate for 127.0.0.1 and
localhost, and a client certificate. The broker runs from the same jars as the local stack
(TEAMPULSE_KAFKA_LIBS_DIR, fetched by deploy/stack/kafka-fetch.sh), formatted with its SCRAM
users (`kafka-storage format --add-scram`); Kafka reads PEM files directly
(`ssl.keystore.type=PEM`).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.integration.worker_harness import REPO, free_port, wait_for

KAFKA_USER, KAFKA_PASSWORD = "teampulse", "kafka-pass-7d1e"
KAFKA_ADMIN_PASSWORD = "broker-admin-pass-51c0"
REDIS_USER, REDIS_PASSWORD = "teampulse", "redis-pass-93af"
REDIS_PREFIX = "tp-secure:"
BROKER_START_TIMEOUT_S = 90


@dataclass(frozen=True)
class Certificates:
    ca: Path
    server_cert: Path
    server_key: Path
    server_pem: Path  # key + certificate, as Kafka's PEM keystore wants them in one file
    client_cert: Path
    client_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(directory: Path) -> Certificates:
    """A CA and two certificates signed by it; keys are unencrypted PKCS#8 (what Kafka's PEM
    keystore reads)."""
    directory.mkdir(parents=True, exist_ok=True)
    rsa = ("-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048")
    _openssl("genpkey", *rsa, "-out", "ca.key", cwd=directory)
    _openssl(
        "req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "2",
        "-subj", "/CN=TeamPulse test CA", "-out", "ca.pem", cwd=directory,
    )  # fmt: skip
    (directory / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, subject, extensions in (
        ("server", "/CN=127.0.0.1", ("-extfile", "server.ext")),
        ("client", "/CN=teampulse-client", ()),
    ):
        _openssl("genpkey", *rsa, "-out", f"{name}.key", cwd=directory)
        _openssl("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr",
                 cwd=directory)  # fmt: skip
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-sha256", *extensions, "-out", f"{name}.pem",
            cwd=directory,
        )  # fmt: skip
    server_pem = directory / "server-keystore.pem"
    server_pem.write_text(
        (directory / "server.key").read_text() + (directory / "server.pem").read_text()
    )
    return Certificates(
        ca=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        server_pem=server_pem,
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
    )


def kafka_libs() -> Path:
    return Path(os.environ.get("TEAMPULSE_KAFKA_LIBS_DIR", REPO / ".stack" / "kafka-libs"))


def _port_answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


@dataclass
class SecureKafka(Service):
    port: int

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


def start_secure_kafka(directory: Path, certs: Certificates) -> SecureKafka:
    """A single-node KRaft broker whose only client listener is SASL_SSL and asks for a
    client certificate (for a SASL_SSL listener only the listener-prefixed setting counts,
    KIP-684)."""
    port, controller = free_port(), free_port()
    data = directory / "data"
    data.mkdir(parents=True)
    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="admin" password="{KAFKA_ADMIN_PASSWORD}";'
    )
    conf = directory / "server.properties"
    conf.write_text(
        f"""process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:{controller}
listeners=SECURE://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=SECURE://127.0.0.1:{port}
inter.broker.listener.name=SECURE
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SECURE:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.secure.scram-sha-512.sasl.jaas.config={jaas}
ssl.keystore.type=PEM
ssl.keystore.location={certs.server_pem}
ssl.truststore.type=PEM
ssl.truststore.location={certs.ca}
listener.name.secure.ssl.client.auth=required
log.dirs={data}
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
"""
    )
    classpath = f"{kafka_libs()}/*"
    java = ["java", "-Xmx512m", "-Xms128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]
    log4j = REPO / "deploy" / "stack" / "kafka-log4j2.properties"
    java += [f"-Dlog4j2.configurationFile={log4j}", f"-Dkafka.logs.dir={directory}"]
    formatted = subprocess.run(
        [
            *java, "-cp", classpath, "kafka.tools.StorageTool", "format", "--standalone",
            "-t", uuid.uuid4().hex[:22], "-c", str(conf),
            "--add-scram", f"SCRAM-SHA-512=[name=admin,password={KAFKA_ADMIN_PASSWORD}]",
            "--add-scram", f"SCRAM-SHA-512=[name={KAFKA_USER},password={KAFKA_PASSWORD}]",
        ],
        capture_output=True,
        text=True,
    )  # fmt: skip
    if formatted.returncode != 0:
        raise AssertionError(f"kafka-storage format failed:\n{formatted.stdout}{formatted.stderr}")
    log_path = directory / "kafka.log"
    with open(log_path, "ab") as out:
        process = subprocess.Popen(
            [*java, "-cp", classpath, "kafka.Kafka", str(conf)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    broker = SecureKafka(process, log_path, port)
    try:
        wait_for(
            lambda: process.poll() is not None or _port_answers(port),
            BROKER_START_TIMEOUT_S,
            "the SASL_SSL broker to listen",
        )
        if process.poll() is not None:
            raise AssertionError(f"the SASL_SSL broker exited:\n{broker.log_tail()}")
    except BaseException:
        broker.stop()
        raise
    return broker


@dataclass
class SecureRedis(Service):
    port: int

    def url(self, user: str = REDIS_USER, password: str = REDIS_PASSWORD) -> str:
        return f"rediss://{user}:{password}@127.0.0.1:{self.port}/0"


def start_secure_redis(directory: Path, certs: Certificates) -> SecureRedis:
    """redis-server on a TLS port only (`--port 0`), client certificates required, with one
    ACL user that may touch only keys and channels under REDIS_PREFIX; the default user is
    off."""
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    acl = directory / "users.acl"
    acl.write_text(
        "user default off\n"
        f"user {REDIS_USER} on >{REDIS_PASSWORD} ~{REDIS_PREFIX}* &{REDIS_PREFIX}* "
        "+@all -@admin -@dangerous\n"
    )
    log_path = directory / "redis.log"
    with open(log_path, "ab") as out:
        process = subprocess.Popen(
            [
                "redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
                "--tls-cert-file", str(certs.server_cert), "--tls-key-file", str(certs.server_key),
                "--tls-ca-cert-file", str(certs.ca), "--tls-auth-clients", "yes",
                "--aclfile", str(acl), "--dir", str(directory), "--save", "", "--appendonly", "no",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    redis = SecureRedis(process, log_path, port)
    try:
        wait_for(lambda: process.poll() is not None or _port_answers(port), 20, "TLS redis")
        if process.poll() is not None:
            raise AssertionError(f"redis-server exited:\n{redis.log_tail()}")
    except BaseException:
        redis.stop()
        raise
    return redis
