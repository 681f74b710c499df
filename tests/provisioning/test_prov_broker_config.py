"""The generated Mosquitto configuration and ACL, as text (the broker tests run them)."""

from __future__ import annotations

from docbox_protocol.topics import ROOT, TOPIC_SPECS
from docbox_provisioning.broker_config import (
    ListenerConfig,
    cloud_common_name,
    render_acl,
    render_mosquitto_conf,
)


def directives(text: str) -> list[list[str]]:
    """The non-comment lines, split into words."""
    return [line.split() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_the_acl_follows_the_topic_map() -> None:
    lines = directives(render_acl(["main"]))
    patterns = {(words[1], words[2]) for words in lines if words[0] == "pattern"}
    expected = {
        ("write" if spec.sender == "edge" else "read", f"{ROOT}/%u/{spec.channel.value}")
        for spec in TOPIC_SPECS.values()
    }
    assert patterns == expected
    assert not any("readwrite" in words or "#" in words[-1] for words in lines if words[0] == "pattern")


def test_cloud_identities_read_every_box_stream_and_write_commands() -> None:
    text = render_acl(["main", "replica-2"])
    for name in ("main", "replica-2"):
        block = text.split(f"user {cloud_common_name(name)}\n", 1)[1].split("\n\n", 1)[0]
        rules = {tuple(line.split()[1:]) for line in block.splitlines()}
        for spec in TOPIC_SPECS.values():
            filter_ = f"{ROOT}/+/{spec.channel.value}"
            if spec.sender == "edge":
                assert ("read", filter_) in rules
                assert ("read", f"$share/+/{filter_}") in rules
            else:
                assert ("write", filter_) in rules
        edge = sum(spec.sender == "edge" for spec in TOPIC_SPECS.values())
        assert len(rules) == 2 * edge + (len(TOPIC_SPECS) - edge)  # nothing more


def test_revoked_boxes_are_denied_everything() -> None:
    lines = directives(render_acl(["main"], ["box-9", "box-3", "box-9"]))
    users = [i for i, words in enumerate(lines) if words == ["user", "box-3"] or words == ["user", "box-9"]]
    assert [lines[i][1] for i in users] == ["box-3", "box-9"]
    for i in users:
        assert lines[i + 1] == ["topic", "deny", "#"]


def test_cloud_common_names_cannot_be_box_ids() -> None:
    # Box ids have no dots (docbox_protocol.topics), so no box can be named like the cloud.
    assert "." in cloud_common_name("main")


def test_the_configuration_has_one_tls_listener_with_certificates_and_the_acl() -> None:
    text = render_mosquitto_conf(ListenerConfig(port=8883, install_dir="/etc/mosquitto/docbox/"))
    lines = directives(text)
    listeners = [words for words in lines if words[0] == "listener"]
    assert listeners == [["listener", "8883"]]
    settings = {words[0]: words[1:] for words in lines}
    assert settings["cafile"] == ["/etc/mosquitto/docbox/ca.crt"]
    assert settings["certfile"] == ["/etc/mosquitto/docbox/server.crt"]
    assert settings["keyfile"] == ["/etc/mosquitto/docbox/server.key"]
    assert settings["crlfile"] == ["/etc/mosquitto/docbox/crl.pem"]
    assert settings["acl_file"] == ["/etc/mosquitto/docbox/acl"]
    for name in ("require_certificate", "use_identity_as_username", "use_username_as_clientid"):
        assert settings[name] == ["true"]
    assert settings["allow_anonymous"] == ["false"]
    assert settings["set_tcp_nodelay"] == ["true"]
    assert settings["persistence"] == ["true"]
    assert settings["tls_version"] == ["tlsv1.2"]
    assert "port" not in settings  # the legacy way to open a (plain) default listener


def test_the_listener_can_bind_one_address() -> None:
    text = render_mosquitto_conf(ListenerConfig(port=8884, install_dir="/x", listen_address="10.0.0.5"))
    assert ["listener", "8884", "10.0.0.5"] in directives(text)
