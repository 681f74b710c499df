"""Test infrastructure: free ports, throwaway real servers, an MQTT test peer.

Fixtures (defined in tests/conftest.py; annotate with the types named here)::

    def test_x(mosquitto: MosquittoServer) -> None:          # fresh broker per test
        mosquitto.host, mosquitto.port, mosquitto.url         # 127.0.0.1, free port, mqtt://…
        mosquitto.stop(); mosquitto.kill(); mosquitto.start()  # same port, same persistence

    def test_y(mosquitto_factory: MosquittoFactory) -> None:  # brokers with extra config
        broker = mosquitto_factory(extra_config=["listener 0 ..."], default_listener=False)

    async def test_z(postgres_url: str) -> None:              # fresh database per test
        engine = create_async_engine(postgres_url)             # postgresql+asyncpg://…

    def test_w(postgres_database: PostgresDatabase) -> None:  # .name, .url, .dsn, .server
    def test_v(postgres_server: PostgresServer) -> None:      # the session's cluster: don't stop it
    def test_u(postgres_factory: PostgresFactory) -> None:    # private cluster to stop/kill

Modules: tests.support.services (MosquittoServer, PostgresServer, wait_until),
tests.support.fixtures (MosquittoFactory, PostgresDatabase, PostgresFactory),
tests.support.mqtt (MqttTestClient), tests.support.ports (free_port).

Every test fails if it logged a record at ERROR or above, unless marked
``@pytest.mark.allow_error_logs`` (optionally with regexes on "logger: message").
"""
