"""Alarms for the facilities team: raised once, cleared when resolved, stored, announced.

- :mod:`~docbox_cloud.alarms.models` — the ``alarms`` table and :class:`AlarmType`;
- :mod:`~docbox_cloud.alarms.store` — raise/clear/list on a session;
- :mod:`~docbox_cloud.alarms.service` — ``AlarmService``, the ingest observer and sweeper;
- :mod:`~docbox_cloud.alarms.messages` — notification texts.

The REST routes are in :mod:`docbox_cloud.api.routes.alarms`. This package imports only the
light modules: ``docbox_cloud.models`` imports it to register the table.
"""

from docbox_cloud.alarms.models import Alarm, AlarmType
from docbox_cloud.alarms.store import AlarmNotResolvableError, UnknownAlarmError

__all__ = ["Alarm", "AlarmNotResolvableError", "AlarmType", "UnknownAlarmError"]
