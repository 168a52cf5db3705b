#!/usr/bin/env bash
# Installs the official Alibaba Cloud KMS Python SDKs into a cached virtual environment and prints
# the path of its python interpreter (the only line on stdout), so tests can drive the KMS emulator
# with independent clients. Idempotent: a venv whose stamp matches the pinned set is reused as is.
#
# Pinned: the Tea/OpenAPI SDK (V3 signature by default, HMAC-SHA1 with signature_algorithm='v2')
# and the legacy core SDK (HMAC-SHA1 RPC). Versions from shared/reference/alibaba-kms.md §7.
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
# A half-built venv from an interrupted run is rebuilt from scratch rather than patched.
rm -rf "$venv"
"$python" -m venv "$venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
  "${packages[@]}" >&2
# Fail here, not in a test, when an import is broken.
"$venv/bin/python" - >&2 <<'PY'
import alibabacloud_kms20160120.client  # noqa: F401
import alibabacloud_tea_openapi.models  # noqa: F401
import aliyunsdkcore.client  # noqa: F401
import aliyunsdkkms.request.v20160120.DescribeKeyRequest  # noqa: F401
PY
printf '%s\n' "$stamp_text" >"$stamp"
echo "$venv/bin/python"
