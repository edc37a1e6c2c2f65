"""Alert channels: where incident notifications go (webhook, Alertmanager, apprise: Slack, e-mail, ...).

Importing this package registers every channel kind in :data:`CHANNELS`.
"""

from __future__ import annotations

from mlwarden.incidents.channels.alertmanager import AlertmanagerChannel
from mlwarden.incidents.channels.apprise_channel import AppriseChannel
from mlwarden.incidents.channels.base import CHANNELS, Channel, Delivery, DeliveryStatus
from mlwarden.incidents.channels.render import render_markdown, render_text, title_line
from mlwarden.incidents.channels.webhook import WebhookChannel, sign, verify_signature

__all__ = [
    "CHANNELS",
    "AlertmanagerChannel",
    "AppriseChannel",
    "Channel",
    "Delivery",
    "DeliveryStatus",
    "WebhookChannel",
    "render_markdown",
    "render_text",
    "sign",
    "title_line",
    "verify_signature",
]
