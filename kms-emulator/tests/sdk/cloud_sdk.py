"""Drives the emulator's local-cloud APIs with the official Tea SDKs: alibabacloud-sts20150401,
-ram20150501, -actiontrail20200706 and -bssopenapi20171214, plus alibabacloud-kms20160120 for the
KMS calls ActionTrail must show.

Usage: cloud_sdk.py HOST:PORT ACCESS_KEY_ID ACCESS_KEY_SECRET v3|v2 KEY_ALIAS
Prints one JSON object with what each call returned; exits non-zero on the first unexpected result.
"""

import base64
import json
import sys

from alibabacloud_actiontrail20200706 import models as trail_models
from alibabacloud_actiontrail20200706.client import Client as TrailClient
from alibabacloud_bssopenapi20171214.client import Client as BssClient
from alibabacloud_kms20160120 import models as kms_models
from alibabacloud_kms20160120.client import Client as KmsClient
from alibabacloud_ram20150501 import models as ram_models
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_tea_openapi import utils_models as open_api_models

endpoint, ak, secret, algorithm, alias = sys.argv[1:6]


def client(cls, secret_to_use=secret):
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
    return cls(config)


def error_of(call):
    try:
        call()
    except Exception as e:  # the SDK raises its own exception types; code and status are what matter
        return {"code": getattr(e, "code", None), "status": getattr(e, "status_code", None)}
    raise SystemExit("expected an error, the call succeeded")


out = {"algorithm": algorithm}

me = client(StsClient).get_caller_identity().body
out["identity"] = {"arn": me.arn, "type": me.identity_type, "account": me.account_id}

ram = client(RamClient)
role = ram.get_role(ram_models.GetRoleRequest(role_name="AliyunCSManagedSecurityRole")).body.role
out["role"] = {"name": role.role_name, "arn": role.arn}
out["role_policies"] = [
    p.policy_name for p in ram.list_policies_for_role(
        ram_models.ListPoliciesForRoleRequest(role_name="AliyunCSManagedSecurityRole")).body.policies.policy
]
user_name = me.arn.split(":user/")[1]
out["user_policies"] = [
    (p.policy_name, p.policy_type) for p in ram.list_policies_for_user(
        ram_models.ListPoliciesForUserRequest(user_name=user_name)).body.policies.policy
]
out["missing_role"] = error_of(lambda: ram.get_role(ram_models.GetRoleRequest(role_name="NoSuchRole")))

balance = client(BssClient).query_account_balance().body
out["balance"] = {"success": balance.success, "available": balance.data.available_amount,
                  "currency": balance.data.currency}

# A KMS Encrypt through the KMS SDK, then ActionTrail must show it: same request id, key, signer.
kms = client(KmsClient)
key_id = kms.describe_key(kms_models.DescribeKeyRequest(key_id=alias)).body.key_metadata.key_id
plaintext = base64.b64encode(b"actiontrail check").decode()
encrypted = kms.encrypt(kms_models.EncryptRequest(key_id=alias, plaintext=plaintext)).body
trail = client(TrailClient)
attribute = trail_models.LookupEventsRequestLookupAttribute
found = trail.lookup_events(trail_models.LookupEventsRequest(
    lookup_attribute=[attribute(key="EventName", value="Encrypt"), attribute(key="ResourceName", value=key_id)],
    max_results="50")).body.events
mine = [e for e in found if e.get("requestId") == encrypted.request_id]
out["encrypt_event"] = {
    "found": len(mine),
    "user": mine[0]["userIdentity"]["userName"] if mine else None,
    "key": mine[0].get("resourceName") if mine else None,
    "key_matches": bool(mine) and mine[0].get("resourceName") == key_id,
}

# Paging: four more Encrypts, pages of two, followed by NextToken to the end.
for _ in range(4):
    kms.encrypt(kms_models.EncryptRequest(key_id=alias, plaintext=plaintext))
pages, seen, token = 0, [], None
while True:
    body = trail.lookup_events(trail_models.LookupEventsRequest(
        lookup_attribute=[attribute(key="EventName", value="Encrypt"), attribute(key="User", value=user_name)],
        max_results="2", next_token=token)).body
    pages += 1
    seen.extend(e["eventId"] for e in body.events)
    token = body.next_token
    if not token or pages > 10:
        break
out["paging"] = {"pages": pages, "events": len(seen), "distinct": len(set(seen))}

out["wrong_secret"] = {
    "sts": error_of(lambda: client(StsClient, secret + "x").get_caller_identity()),
    "ram": error_of(lambda: client(RamClient, secret + "x").get_role(
        ram_models.GetRoleRequest(role_name="AliyunCSManagedSecurityRole"))),
    "actiontrail": error_of(lambda: client(TrailClient, secret + "x").lookup_events(
        trail_models.LookupEventsRequest())),
    "bss": error_of(lambda: client(BssClient, secret + "x").query_account_balance()),
}
print(json.dumps(out))
