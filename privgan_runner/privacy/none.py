"""No privacy mechanism: the GAN is trained as its objective and regularizer say."""

from .base import PrivacyMechanism


class NoPrivacy(PrivacyMechanism):
    pass
