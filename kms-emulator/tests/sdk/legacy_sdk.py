"""Drives the KMS emulator with the legacy SDK (aliyun-python-sdk-kms + aliyun-python-sdk-core),
which signs RPC requests with HMAC-SHA1 and adds RegionId and an empty SignatureType.

Usage: legacy_sdk.py HOST:PORT ACCESS_KEY_ID ACCESS_KEY_SECRET
"""

import base64
import json
import sys

from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkkms.request.v20160120 import (CreateKeyRequest, DecryptRequest, DescribeKeyRequest,
                                            DisableKeyRequest, EncryptRequest)

endpoint, ak, secret = sys.argv[1:4]


def call(request, secret_to_use=secret):
    request.set_endpoint(endpoint)
    request.set_protocol_type("http")
    request.set_accept_format("JSON")
    acs = AcsClient(ak, secret_to_use, "cn-hangzhou", auto_retry=False, timeout=10, connect_timeout=5)
    return json.loads(acs.do_action_with_exception(request))


def error_of(request, secret_to_use=secret):
    try:
        call(request, secret_to_use)
    except ServerException as e:
        return {"code": e.get_error_code(), "status": e.get_http_status()}
    raise SystemExit("expected an error, the call succeeded")


out = {}
create = CreateKeyRequest.CreateKeyRequest()
create.set_KeySpec("Aliyun_AES_256")
create.set_KeyUsage("ENCRYPT/DECRYPT")
key_id = call(create)["KeyMetadata"]["KeyId"]

describe = DescribeKeyRequest.DescribeKeyRequest()
describe.set_KeyId(key_id)
meta = call(describe)["KeyMetadata"]
out["described_state"] = meta["KeyState"]
out["described_spec"] = meta["KeySpec"]

plaintext = base64.b64encode(b"secret from the legacy sdk").decode()
encrypt = EncryptRequest.EncryptRequest()
encrypt.set_KeyId(key_id)
encrypt.set_Plaintext(plaintext)
blob = call(encrypt)["CiphertextBlob"]
decrypt = DecryptRequest.DecryptRequest()
decrypt.set_CiphertextBlob(blob)
decrypted = call(decrypt)
out["round_trip"] = decrypted["Plaintext"] == plaintext and decrypted["KeyId"] == key_id

disable = DisableKeyRequest.DisableKeyRequest()
disable.set_KeyId(key_id)
call(disable)
encrypt_again = EncryptRequest.EncryptRequest()
encrypt_again.set_KeyId(key_id)
encrypt_again.set_Plaintext(plaintext)
out["encrypt_disabled"] = error_of(encrypt_again)

missing = DescribeKeyRequest.DescribeKeyRequest()
missing.set_KeyId("no-such-key")
out["missing_key"] = error_of(missing)
wrong = DescribeKeyRequest.DescribeKeyRequest()
wrong.set_KeyId(key_id)
out["wrong_secret"] = error_of(wrong, secret + "x")
print(json.dumps(out))
