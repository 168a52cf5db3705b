"""Drives the emulator's CS (ACK) API with the official Tea SDK alibabacloud-cs20151215: its default
ROA HMAC-SHA1 signature (v2) or ACS3-HMAC-SHA256 (v3), every call the project makes, the 409
cool-down, ForbiddenUpdateKMSState for a user without the cluster's admin or O&M role, a refused
key, and a wrong secret. alibabacloud-sts20150401 gives the caller's uid for DescribeUserPermission,
alibabacloud-kms20160120 the id of the key the cluster then reports.

Usage: cs_sdk.py HOST:PORT ACCESS_KEY_ID ACCESS_KEY_SECRET v3|v2 CLUSTER_ID KEY_ALIAS WRONG_KEY_ALIAS
       OUTSIDER_ACCESS_KEY_ID OUTSIDER_ACCESS_KEY_SECRET
Prints one JSON object with what each call returned; exits non-zero on the first unexpected result.
"""

import json
import sys
import time

from alibabacloud_cs20151215 import models as cs_models
from alibabacloud_cs20151215.client import Client as CsClient
from alibabacloud_kms20160120 import models as kms_models
from alibabacloud_kms20160120.client import Client as KmsClient
from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_tea_openapi import utils_models as open_api_models

(endpoint, ak, secret, algorithm, cluster_id, alias, wrong_alias,
 outsider_ak, outsider_secret) = sys.argv[1:10]


def client(cls, key=ak, secret_to_use=secret):
    config = open_api_models.Config(
        access_key_id=key,
        access_key_secret=secret_to_use,
        endpoint=endpoint,
        protocol="http",
        region_id="cn-hangzhou",
        read_timeout=10000,
        connect_timeout=5000,
    )
    c = cls(config)
    if cls is CsClient and algorithm == "v3":
        # The CS client fixes 'v2' (ROA HMAC-SHA1) in its constructor; naming the V3 algorithm
        # makes the OpenAPI core sign with ACS3-HMAC-SHA256.
        c._signature_algorithm = "ACS3-HMAC-SHA256"
    return c


def error_of(call):
    try:
        call()
    except Exception as e:  # the SDK raises its own exception types; code and status are what matter
        return {"code": getattr(e, "code", None), "status": getattr(e, "status_code", None)}
    raise SystemExit("expected an error, the call succeeded")


def detail(cs):
    d = cs.describe_cluster_detail(cluster_id).body
    return {"state": d.state, "region": d.region_id, "version": d.current_version,
            "type": d.cluster_type, "key": json.loads(d.meta_data).get("EncryptionProviderKey")}


out = {"algorithm": algorithm}
cs = client(CsClient)
out["before"] = detail(cs)

uid = client(StsClient).get_caller_identity().body.user_id
grants = cs.describe_user_permission(uid).body
out["permissions"] = [(g.resource_id, g.resource_type, g.role_type, g.is_owner) for g in grants]

enable = cs_models.UpdateKMSEncryptionRequest(kms_key_id=alias, disable_encryption=False)
out["wrong_key"] = error_of(lambda: cs.update_kmsencryption(
    cluster_id, cs_models.UpdateKMSEncryptionRequest(kms_key_id=wrong_alias, disable_encryption=False)))
out["outsider"] = error_of(lambda: client(CsClient, outsider_ak, outsider_secret).update_kmsencryption(
    cluster_id, enable))
out["update_status"] = cs.update_kmsencryption(cluster_id, enable).status_code
out["during"] = detail(cs)
out["again"] = error_of(lambda: cs.update_kmsencryption(cluster_id, enable))
deadline = time.time() + 30
while detail(cs)["state"] != "running" and time.time() < deadline:
    time.sleep(0.2)
out["after"] = detail(cs)
out["key_id"] = client(KmsClient).describe_key(kms_models.DescribeKeyRequest(key_id=alias)).body.key_metadata.key_id
out["missing_cluster"] = error_of(lambda: cs.describe_cluster_detail("c-nosuchcluster"))
out["wrong_secret"] = error_of(lambda: client(CsClient, ak, secret + "x").describe_cluster_detail(cluster_id))
print(json.dumps(out))
