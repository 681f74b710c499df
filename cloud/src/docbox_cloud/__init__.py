"""docbox cloud: REST API, persistence, and the MQTT bridge to the boxes.

Entry points: :func:`docbox_cloud.api.app.create_app`,
:class:`docbox_cloud.settings.CloudSettings`, :class:`docbox_cloud.bridge.MqttBridge`,
:func:`docbox_cloud.migrate.migrate`. This module imports none of them, because the docbox
CLI imports the package at start-up and must stay fast.
"""
