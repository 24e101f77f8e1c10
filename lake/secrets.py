"""Secrets come from the environment or AWS Secrets Manager, never from arguments or files in the repo."""

from __future__ import annotations

import os

PII_SALT_ENV = "LAKEPREP_PII_SALT"


class MissingSecretError(RuntimeError):
    pass


def pii_salt(secret_id: str | None = None) -> str:
    """The keyed-hash salt for ``pii: hash`` columns: $LAKEPREP_PII_SALT, or a Secrets Manager secret.

    Hashing without a secret salt would be reversible by dictionary, so a missing salt is an error."""
    if secret_id:
        import boto3

        value = boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)
        salt = value.get("SecretString")
        if not salt:
            raise MissingSecretError(f"secret {secret_id!r} has no SecretString")
        return str(salt)
    salt = os.environ.get(PII_SALT_ENV)
    if not salt:
        raise MissingSecretError(
            f"a contract hashes PII columns: set ${PII_SALT_ENV} (or pass --pii-salt-secret <Secrets Manager id>)"
        )
    return salt
