"""A text field encrypted at rest with Fernet keys from settings (first key encrypts, all decrypt)."""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

_PREFIX = "fernet:"


def _fernet() -> MultiFernet:
    keys = settings.FIELD_ENCRYPTION_KEYS
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS must hold at least one Fernet key.")
    return MultiFernet([Fernet(key) for key in keys])


class EncryptedTextField(models.TextField):
    """Stores ciphertext; Python code only ever sees the plaintext. Empty values are stored empty."""

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return value
        return _PREFIX + _fernet().encrypt(value.encode()).decode()

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        if not value.startswith(_PREFIX):
            raise ValueError(f"{self.model.__name__}.{self.name} holds an unencrypted value")
        try:
            return _fernet().decrypt(value[len(_PREFIX):].encode()).decode()
        except InvalidToken as exc:
            raise ImproperlyConfigured(
                f"Cannot decrypt {self.model.__name__}.{self.name}: FIELD_ENCRYPTION_KEYS lacks the key it was "
                "written with."
            ) from exc
