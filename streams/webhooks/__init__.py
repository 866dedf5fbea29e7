"""Webhook receivers: bodies, Standard Webhooks signing, retry policy and the client.

`streams.webhooks.verify` is what a receiver's author imports to check a delivery's signature.
"""

from streams.webhooks.signing import WebhookVerificationError, verify

__all__ = ["WebhookVerificationError", "verify"]
