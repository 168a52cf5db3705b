#!/usr/bin/env bash
# Installs the official Alibaba Cloud Python SDKs into a cached virtual environment and prints
# the path of its python interpreter (the only line on stdout), so tests can drive the KMS emulator
# with independent clients. Idempotent: a venv whose stamp matches the pinned set is reused as is;
# one with another stamp (the set grew or a pin moved) is brought to the set in place by pip,
# which leaves a venv that other test runs are using importable throughout; only a venv that is
# missing or still fails the import check afterwards is rebuilt from scratch.
#
# Pinned: the KMS Tea/OpenAPI SDK (V3 signature by default, HMAC-SHA1 with
# signature_algorithm='v2') and the legacy core SDK (HMAC-SHA1 RPC), versions from
# shared/reference/alibaba-kms.md §7; the STS, RAM, ActionTrail, BSS and CS (ACK) Tea SDKs for the emulator's
# local-cloud APIs, versions from shared/reference/field-facts.md §4.
set -euo pipefail

cache="${SECRETKMS_CACHE:-$HOME/.cache/secretkms}"
venv="$cache/venv"
python="${PYTHON:-python3}"

packages=(
  "alibabacloud-kms20160120==3.3.1"
  "alibabacloud-tea-openapi==0.4.6"
  "alibabacloud-openapi-util==0.2.4"
  "alibabacloud-credentials==1.0.12"
  "aliyun-python-sdk-kms==2.16.5"
  "aliyun-python-sdk-core==2.16.1"
  "alibabacloud-sts20150401==1.2.0"
  "alibabacloud-ram20150501==1.3.0"
  "alibabacloud-actiontrail20200706==2.6.0"
  "alibabacloud-bssopenapi20171214==5.1.2"
  "alibabacloud-cs20151215==7.2.3"
  # Transitive packages that build and sign the requests, pinned so the check does not drift.
  "alibabacloud-tea==0.4.3"
  "alibabacloud-tea-util==0.3.15"
  "darabonba-core==1.0.9"
  "alibabacloud-gateway-spi==0.0.4"
  "alibabacloud-endpoint-util==0.0.4"
)
stamp_text="$(printf '%s\n' "${packages[@]}")"
stamp="$venv/.secretkms-sdk-stamp"

if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$stamp_text" ]]; then
  echo "$venv/bin/python"
  exit 0
fi

mkdir -p "$cache"
# One installer at a time (parallel test binaries); the one that waited finds the stamp written.
exec 9>"$cache/venv.lock"
flock 9
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$stamp_text" ]]; then
  echo "$venv/bin/python"
  exit 0
fi
pip_install() {
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    "${packages[@]}" >&2
}
# Fail here, not in a test, when an import is broken.
imports_ok() {
  "$venv/bin/python" - >&2 <<'PY'
import alibabacloud_kms20160120.client  # noqa: F401
import alibabacloud_tea_openapi.models  # noqa: F401
import aliyunsdkcore.client  # noqa: F401
import aliyunsdkkms.request.v20160120.DescribeKeyRequest  # noqa: F401
import alibabacloud_sts20150401.client  # noqa: F401
import alibabacloud_ram20150501.client  # noqa: F401
import alibabacloud_actiontrail20200706.client  # noqa: F401
import alibabacloud_bssopenapi20171214.client  # noqa: F401
import alibabacloud_cs20151215.client  # noqa: F401
PY
}

if [[ -x "$venv/bin/python" ]] && pip_install && imports_ok; then
  printf '%s\n' "$stamp_text" >"$stamp"
  echo "$venv/bin/python"
  exit 0
fi
# A half-built venv from an interrupted run is rebuilt from scratch rather than patched.
rm -rf "$venv"
"$python" -m venv "$venv" >&2
pip_install
imports_ok
printf '%s\n' "$stamp_text" >"$stamp"
echo "$venv/bin/python"
