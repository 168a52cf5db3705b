"""Drives the KMS emulator with the official Tea SDK (alibabacloud-kms20160120).

Usage: tea_sdk.py HOST:PORT ACCESS_KEY_ID ACCESS_KEY_SECRET v3|v2
Prints one JSON object with what each call returned; exits non-zero on the first unexpected result.
"""

import base64
import json
import sys

from alibabacloud_kms20160120 import models as kms_models
from alibabacloud_kms20160120.client import Client
from alibabacloud_tea_openapi import utils_models as open_api_models

endpoint, ak, secret, algorithm = sys.argv[1:5]


def client(secret_to_use):
    config = open_api_models.Config(
        access_key_id=ak,
        access_key_secret=secret_to_use,
        endpoint=endpoint,
        protocol="http",
        region_id="cn-hangzhou",
        read_timeout=10000,
        connect_timeout=5000,
    )
    if algorithm == "v2":
        config.signature_algorithm = "v2"
    return Client(config)


def error_of(call):
    try:
        call()
    except Exception as e:  # the SDK raises its own exception types; code and status are what matter
        return {"code": getattr(e, "code", None), "status": getattr(e, "status_code", None)}
    raise SystemExit("expected an error, the call succeeded")


kms = client(secret)
out = {"algorithm": algorithm}

created = kms.create_key(kms_models.CreateKeyRequest(key_spec="Aliyun_AES_256", key_usage="ENCRYPT/DECRYPT",
                                                     description="python sdk " + algorithm)).body
key_id = created.key_metadata.key_id
out["created_state"] = created.key_metadata.key_state
alias = "alias/sdk-" + algorithm + "-" + key_id[:8]
kms.create_alias(kms_models.CreateAliasRequest(alias_name=alias, key_id=key_id))

described = kms.describe_key(kms_models.DescribeKeyRequest(key_id=alias)).body.key_metadata
out["described_key_id_matches"] = described.key_id == key_id
out["described_spec"] = described.key_spec
out["described_arn"] = described.arn

plaintext = base64.b64encode(b"secret from the python sdk").decode()
encrypted = kms.encrypt(kms_models.EncryptRequest(key_id=alias, plaintext=plaintext,
                                                  encryption_context={"ns": "default"})).body
decrypted = kms.decrypt(kms_models.DecryptRequest(ciphertext_blob=encrypted.ciphertext_blob,
                                                  encryption_context={"ns": "default"})).body
out["round_trip"] = decrypted.plaintext == plaintext and decrypted.key_id == key_id
out["version_matches"] = decrypted.key_version_id == encrypted.key_version_id == described.primary_key_version

versions = kms.list_key_versions(kms_models.ListKeyVersionsRequest(key_id=key_id)).body
out["version_count"] = versions.total_count

kms.disable_key(kms_models.DisableKeyRequest(key_id=key_id))
out["disabled_state"] = kms.describe_key(kms_models.DescribeKeyRequest(key_id=key_id)).body.key_metadata.key_state
out["encrypt_disabled"] = error_of(lambda: kms.encrypt(kms_models.EncryptRequest(key_id=key_id, plaintext=plaintext)))
kms.enable_key(kms_models.EnableKeyRequest(key_id=key_id))
kms.schedule_key_deletion(kms_models.ScheduleKeyDeletionRequest(key_id=key_id, pending_window_in_days=7))
pending = kms.describe_key(kms_models.DescribeKeyRequest(key_id=key_id)).body.key_metadata
out["pending_state"] = pending.key_state
out["pending_delete_date"] = pending.delete_date
kms.cancel_key_deletion(kms_models.CancelKeyDeletionRequest(key_id=key_id))
out["missing_key"] = error_of(lambda: kms.describe_key(kms_models.DescribeKeyRequest(key_id="no-such-key")))
out["wrong_secret"] = error_of(lambda: client(secret + "x").describe_key(kms_models.DescribeKeyRequest(key_id=key_id)))
print(json.dumps(out))
