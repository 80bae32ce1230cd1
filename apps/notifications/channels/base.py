"""The channel contract: one plugin per kind of destination."""


class DeliveryError(Exception):
    """A notice could not be delivered; the message is safe to store (no secret)."""


class ChannelConfigError(Exception):
    """A channel's settings are unusable; ``errors`` maps field names to messages."""

    def __init__(self, errors):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class ChannelKind:
    """Base class for a kind of channel.

    Subclasses set ``kind`` (registry key), ``label`` and ``fields`` (the ``Channel`` fields
    they use), and implement:

    - ``validate(channel)``: raises ``ChannelConfigError`` naming the field. Pure.
    - ``send(channel, notice)``: deliver a ``Notice``; returns a short result ("HTTP 200"),
      raises ``DeliveryError`` (its message stored on the channel, so never a secret).
      Called off the deploy path (a task), or by the admin's "send test".
    """

    kind = ""
    label = ""
    fields: tuple = ()

    def validate(self, channel):
        return None

    def send(self, channel, notice):
        raise NotImplementedError
