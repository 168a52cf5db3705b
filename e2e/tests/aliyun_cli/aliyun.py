"""Runs one `aliyun kms <Action> --Param value ...` command line the way the Alibaba Cloud CLI
sends it, with the official Python SDKs, because the CLI itself cannot be built here (the Go module
proxy refuses github.com/aliyun/aliyun-cli/v3: 403 "This module version is not available").

What it shares with the CLI, so that a printed command that works here works there:
- The command line: `kms`, the API name as printed, `--Name value` pairs with the API's own
  parameter names, and the CLI's flags `--endpoint HOST[:PORT]`, `--insecure` (plain HTTP),
  `--profile NAME` and `--region ID`.
- The API's description: each action and parameter must exist in aliyun-python-sdk-kms, which is
  generated from the same OpenAPI metadata as the CLI's (a request class per action, a setter
  per parameter). An unknown action or parameter fails as the CLI fails on it.
- The wire form: an RPC request to KMS 2016-01-20 signed with HMAC-SHA1 by aliyun-python-sdk-core,
  every parameter a string, as the CLI sends it.
- The configuration: the `current` profile (or `--profile`) of `$HOME/.aliyun/config.json` in the
  CLI's format, mode `AK` (`access_key_id`, `access_key_secret`, `region_id`).

Usage: aliyun.py kms ACTION [--Name value]... --endpoint HOST:PORT [--insecure]
Prints the response JSON on stdout; exits 1 with `ERROR: ...` on stderr when the call fails and
2 when the command line is not one the CLI would accept. Secrets are never printed.
"""

import importlib
import json
import os
import sys

from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from aliyunsdkcore.client import AcsClient

GLOBAL_FLAGS = {"--endpoint", "--profile", "--region"}
GLOBAL_SWITCHES = {"--insecure"}


def usage(message):
    print("ERROR: " + message, file=sys.stderr)
    sys.exit(2)


def parse(argv):
    if len(argv) < 2 or argv[0] != "kms":
        usage("expected: kms ACTION [--Name value]...")
    action, rest = argv[1], argv[2:]
    params, flags, switches = [], {}, set()
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg in GLOBAL_SWITCHES:
            switches.add(arg)
            i += 1
            continue
        if not arg.startswith("--") or i + 1 >= len(rest):
            usage("'%s' is not a --Name value pair" % arg)
        name, value = arg[2:], rest[i + 1]
        if arg in GLOBAL_FLAGS:
            flags[arg] = value
        else:
            params.append((name, value))
        i += 2
    return action, params, flags, switches


def request_for(action, params):
    try:
        module = importlib.import_module("aliyunsdkkms.request.v20160120.%sRequest" % action)
    except ImportError:
        usage("'%s' is not a valid API of product kms" % action)
    request = getattr(module, action + "Request")()
    for name, value in params:
        setter = getattr(request, "set_" + name, None)
        if setter is None:
            usage("'--%s' is not a valid parameter of kms %s" % (name, action))
        setter(value)
    return request


def profile(name):
    path = os.path.join(os.environ["HOME"], ".aliyun", "config.json")
    with open(path) as f:
        config = json.load(f)
    wanted = name or config.get("current") or "default"
    for p in config.get("profiles", []):
        if p.get("name") == wanted:
            if p.get("mode") != "AK":
                usage("profile %s: only mode AK is supported here, not %s" % (wanted, p.get("mode")))
            return p
    usage("profile %s not found in %s" % (wanted, path))


def main():
    action, params, flags, switches = parse(sys.argv[1:])
    request = request_for(action, params)
    p = profile(flags.get("--profile"))
    endpoint = flags.get("--endpoint")
    if endpoint is None:
        usage("--endpoint is required here: this stand-in only talks to the local emulator")
    request.set_endpoint(endpoint)
    request.set_protocol_type("http" if "--insecure" in switches else "https")
    request.set_accept_format("JSON")
    client = AcsClient(p["access_key_id"], p["access_key_secret"], flags.get("--region") or p["region_id"],
                       auto_retry=False, timeout=10, connect_timeout=5)
    try:
        body = client.do_action_with_exception(request)
    except ServerException as e:
        print("ERROR: SDK.ServerError\nErrorCode: %s\nMessage: %s" % (e.get_error_code(), e.get_error_msg()),
              file=sys.stderr)
        sys.exit(1)
    except ClientException as e:
        print("ERROR: %s: %s" % (e.get_error_code(), e.get_error_msg()), file=sys.stderr)
        sys.exit(1)
    print(json.dumps(json.loads(body), indent=2, sort_keys=True))


main()
