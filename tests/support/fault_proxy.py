#!/usr/bin/env python3
"""Forward AWS API requests to moto and inject faults from a rule file.

orgscan's tests point AWS_ENDPOINT_URL at this proxy, which listens on
127.0.0.1 only and forwards each request to a moto server that must also be
on loopback. A rule matches one AWS operation and returns an AWS error in
the service's wire format or a replacement body, closes the connection, or
adds latency.

Usage:
    fault_proxy.py --upstream http://127.0.0.1:PORT --rules rules.json --port-file FILE

The rule file is a JSON list of rules (or an object with a "rules" list):

    {
      "operation": "AssumeRole",        required: the API operation name
      "account": "111122223333",        optional: the account the request acts on
      "body_contains": "text",          optional: a substring of the request body
      "nth": 2 | "first": 4 | "always": true
                                        when to fire, counted over matching calls;
                                        without any of them the rule always fires
      "delay_ms": 200,                  optional: wait before answering or forwarding
      and at most one response:
      "error": {"status": 400, "code": "Throttling", "message": "Rate exceeded",
                "type": "Sender"}       an AWS error in the request's protocol
      "report_state": "INPROGRESS"      a GenerateCredentialReport result
      "report_content": "csv text"      a GetCredentialReport result with this CSV
      "report_content_base64": "..."    the same with a ready base64 Content
      "generated_time": "2024-05-06T07:08:09Z"   GeneratedTime of that result
      "body": "...", "status": 200, "content_type": "text/xml"
                                        any other replacement response
      "disconnect": true                close the connection without a response
    }

A rule with only "delay_ms" forwards the request after the delay.

The account of a request is the account in the RoleArn of an AssumeRole
call. For other calls it is the account whose AssumeRole response handed out
the request's access key id, or --default-account (the account moto gives
unknown keys) for keys that no AssumeRole returned.

GET /__faults/stats returns JSON with the call count per operation and per
account and operation, every injected fault, the hit counts of each rule and
every credential set that AssumeRole returned through the proxy. Each
injected fault is also logged to stderr.

The proxy stops by itself after --max-seconds or when its parent exits.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import ipaddress
import json
import os
import re
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ElementTree
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

# Largest request body the proxy accepts; orgscan's requests are a few hundred bytes.
MAX_REQUEST_BYTES = 1024 * 1024

# Headers that describe one connection and are not forwarded.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "host",
}

QUERY_NAMESPACES = {
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
}

ACCESS_KEY_IN_AUTHORIZATION = re.compile(r"Credential=([^/,\s]+)/[^/]+/[^/]+/([^/]+)/")

RESPONSE_KEYS = ("error", "report_state", "report_content", "report_content_base64", "body", "disconnect")


class RuleError(ValueError):
    """A rule in the rule file is invalid."""


class Rule:
    def __init__(self, index: int, spec: dict[str, Any]) -> None:
        self.index = index
        self.spec = spec
        if not isinstance(spec.get("operation"), str):
            raise RuleError(f"rule {index}: 'operation' must be an operation name such as AssumeRole")
        self.operation = spec["operation"]
        self.account = spec.get("account")
        self.body_contains = spec.get("body_contains")

        triggers = [key for key in ("nth", "first", "always") if key in spec]
        if len(triggers) > 1:
            raise RuleError(f"rule {index}: use at most one of nth, first and always, not {triggers}")
        self.trigger = triggers[0] if triggers else "always"
        if self.trigger in ("nth", "first") and (not isinstance(spec[self.trigger], int) or spec[self.trigger] < 1):
            raise RuleError(f"rule {index}: {self.trigger} must be a positive integer")

        responses = [key for key in RESPONSE_KEYS if key in spec]
        if len(responses) > 1:
            raise RuleError(f"rule {index}: use at most one of {', '.join(RESPONSE_KEYS)}, not {responses}")
        self.response = responses[0] if responses else None
        self.delay = float(spec.get("delay_ms", 0)) / 1000.0
        if self.response is None and self.delay <= 0:
            raise RuleError(f"rule {index}: give a response ({', '.join(RESPONSE_KEYS)}) or a delay_ms")

        self.matched = 0
        self.fired = 0

    def matches(self, operation: str, account: str | None, body: str) -> bool:
        if operation != self.operation:
            return False
        if self.account is not None and account != self.account:
            return False
        if self.body_contains is not None and self.body_contains not in body:
            return False
        return True

    def fires_on(self, match_number: int) -> bool:
        if self.trigger == "nth":
            return match_number == self.spec["nth"]
        if self.trigger == "first":
            return match_number <= self.spec["first"]
        return True


class State:
    """Counters and rules shared by the handler threads, behind one lock."""

    def __init__(self, rules: list[Rule], default_account: str) -> None:
        self.lock = threading.Lock()
        self.rules = rules
        self.default_account = default_account
        self.calls: dict[str, int] = {}
        self.calls_by_account: dict[str, dict[str, int]] = {}
        self.injected: list[dict[str, Any]] = []
        self.account_by_access_key: dict[str, str] = {}
        self.assumed_credentials: list[dict[str, str]] = []

    def record_call(self, operation: str, account: str | None) -> None:
        with self.lock:
            self.calls[operation] = self.calls.get(operation, 0) + 1
            if account is not None:
                per_account = self.calls_by_account.setdefault(account, {})
                per_account[operation] = per_account.get(operation, 0) + 1

    def select_rule(self, operation: str, account: str | None, body: str) -> Rule | None:
        """Count the call against every matching rule and return the first that fires."""
        with self.lock:
            chosen = None
            for rule in self.rules:
                if not rule.matches(operation, account, body):
                    continue
                rule.matched += 1
                if chosen is None and rule.fires_on(rule.matched):
                    rule.fired += 1
                    chosen = rule
            return chosen

    def record_injection(self, rule: Rule, operation: str, account: str | None) -> None:
        entry = {
            "rule": rule.index,
            "operation": operation,
            "account": account,
            "response": describe_response(rule),
            "time": time.time(),
        }
        with self.lock:
            entry["sequence"] = len(self.injected) + 1
            self.injected.append(entry)
        log(f"injected {entry['response']} into {operation} (account {account}, rule {rule.index})")

    def account_of_key(self, access_key_id: str | None) -> str:
        with self.lock:
            return self.account_by_access_key.get(access_key_id or "", self.default_account)

    def learn_credentials(self, account: str, credentials: dict[str, str]) -> None:
        with self.lock:
            self.account_by_access_key[credentials["access_key_id"]] = account
            self.assumed_credentials.append({"account": account, **credentials})

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "calls": dict(self.calls),
                "calls_by_account": {account: dict(calls) for account, calls in self.calls_by_account.items()},
                "injected": list(self.injected),
                "rules": [
                    {"index": rule.index, "operation": rule.operation, "matched": rule.matched, "fired": rule.fired}
                    for rule in self.rules
                ],
                "assumed_credentials": list(self.assumed_credentials),
            }


def describe_response(rule: Rule) -> str:
    if rule.response == "error":
        error = rule.spec["error"]
        return f"error {error.get('code')} (HTTP {error.get('status', 400)})"
    if rule.response is None:
        return f"delay of {rule.delay * 1000:.0f} ms"
    if rule.response == "disconnect":
        return "disconnect"
    return f"replacement {rule.response}"


def log(message: str) -> None:
    print(f"fault_proxy: {message}", file=sys.stderr, flush=True)


def request_id() -> str:
    return str(uuid.uuid4())


def query_error_body(service: str, error: dict[str, Any]) -> bytes:
    namespace = QUERY_NAMESPACES.get(service, QUERY_NAMESPACES["iam"])
    root = ElementTree.Element("ErrorResponse", xmlns=namespace)
    detail = ElementTree.SubElement(root, "Error")
    ElementTree.SubElement(detail, "Type").text = error.get("type", "Sender")
    ElementTree.SubElement(detail, "Code").text = error["code"]
    ElementTree.SubElement(detail, "Message").text = error.get("message", error["code"])
    ElementTree.SubElement(root, "RequestId").text = request_id()
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


def iam_result_body(operation: str, fields: dict[str, str]) -> bytes:
    root = ElementTree.Element(f"{operation}Response", xmlns=QUERY_NAMESPACES["iam"])
    result = ElementTree.SubElement(root, f"{operation}Result")
    for name, value in fields.items():
        ElementTree.SubElement(result, name).text = value
    metadata = ElementTree.SubElement(root, "ResponseMetadata")
    ElementTree.SubElement(metadata, "RequestId").text = request_id()
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


def first_text(root: ElementTree.Element, name: str) -> str | None:
    for element in root.iter():
        if element.tag == name or element.tag.endswith("}" + name):
            return element.text
    return None


def parse_credentials(body: bytes) -> dict[str, str] | None:
    """The credentials of an AssumeRole response, or None when it has none."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return None
    values = {
        "access_key_id": first_text(root, "AccessKeyId"),
        "secret_access_key": first_text(root, "SecretAccessKey"),
        "session_token": first_text(root, "SessionToken"),
    }
    if not all(values.values()):
        return None
    return values  # type: ignore[return-value]


def account_of_role_arn(body: str) -> str | None:
    role_arns = parse_qs(body).get("RoleArn", [])
    if not role_arns:
        return None
    parts = role_arns[0].split(":")
    return parts[4] if len(parts) > 5 else None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "ProxyServer"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        if self.server.verbose:
            log(format % args)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.split("?")[0] == "/__faults/stats":
            self.send_bytes(200, "application/json", json.dumps(self.server.state.stats()).encode())
            return
        self.proxy()

    def do_POST(self) -> None:  # noqa: N802
        self.proxy()

    def do_PUT(self) -> None:  # noqa: N802
        self.proxy()

    def do_DELETE(self) -> None:  # noqa: N802
        self.proxy()

    def do_HEAD(self) -> None:  # noqa: N802
        self.proxy()

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_REQUEST_BYTES:
                    raise ValueError(f"request body larger than {MAX_REQUEST_BYTES} bytes")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BYTES:
            raise ValueError(f"request body larger than {MAX_REQUEST_BYTES} bytes")
        return self.rfile.read(length)

    def operation_and_service(self, body: str) -> tuple[str, str]:
        authorization = self.headers.get("Authorization", "")
        scope = ACCESS_KEY_IN_AUTHORIZATION.search(authorization)
        service = scope.group(2) if scope else ""
        target = self.headers.get("X-Amz-Target")
        if target:
            return target.rsplit(".", 1)[-1], service
        actions = parse_qs(body).get("Action") or parse_qs(urlparse(self.path).query).get("Action") or [""]
        return actions[0], service

    def proxy(self) -> None:
        state = self.server.state
        try:
            raw_body = self.read_body()
        except ValueError as error:
            self.send_bytes(400, "text/plain", str(error).encode())
            return
        body = raw_body.decode("utf-8", errors="replace")
        operation, service = self.operation_and_service(body)

        if operation == "AssumeRole":
            account = account_of_role_arn(body)
        else:
            scope = ACCESS_KEY_IN_AUTHORIZATION.search(self.headers.get("Authorization", ""))
            account = state.account_of_key(scope.group(1) if scope else None)

        state.record_call(operation, account)
        rule = state.select_rule(operation, account, body)

        if rule is not None:
            if rule.delay > 0:
                time.sleep(rule.delay)
            if rule.response is not None:
                state.record_injection(rule, operation, account)
                self.answer_with_rule(rule, operation, service)
                return

        status, headers, response_body = self.forward(raw_body)
        if operation == "AssumeRole" and status == 200 and account is not None:
            credentials = parse_credentials(response_body)
            if credentials is not None:
                state.learn_credentials(account, credentials)
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response_body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response_body)

    def forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        upstream = self.server.upstream
        connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
        try:
            headers = {name: value for name, value in self.headers.items() if name.lower() not in HOP_BY_HOP}
            headers["Host"] = upstream.netloc
            headers["Content-Length"] = str(len(body))
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def answer_with_rule(self, rule: Rule, operation: str, service: str) -> None:
        spec = rule.spec
        if rule.response == "disconnect":
            # The handler closes the socket after this request, so the client
            # reads end of file where it expects a status line.
            self.close_connection = True
            return

        if rule.response == "error":
            error = spec["error"]
            status = int(error.get("status", 400))
            if self.headers.get("X-Amz-Target"):
                payload = json.dumps({"__type": error["code"], "message": error.get("message", error["code"])})
                self.send_bytes(
                    status,
                    "application/x-amz-json-1.1",
                    payload.encode(),
                    extra_headers=[("x-amzn-ErrorType", error["code"]), ("x-amzn-RequestId", request_id())],
                )
            else:
                self.send_bytes(status, "text/xml", query_error_body(service, error))
            return

        if rule.response == "report_state":
            body = iam_result_body(
                "GenerateCredentialReport",
                {"State": spec["report_state"], "Description": "Report generation is in progress"},
            )
            self.send_bytes(200, "text/xml", body)
            return

        if rule.response in ("report_content", "report_content_base64"):
            if rule.response == "report_content":
                content = base64.b64encode(spec["report_content"].encode("utf-8")).decode("ascii")
            else:
                content = spec["report_content_base64"]
            body = iam_result_body(
                "GetCredentialReport",
                {
                    "Content": content,
                    "ReportFormat": "text/csv",
                    "GeneratedTime": spec.get("generated_time", "2024-05-06T07:08:09Z"),
                },
            )
            self.send_bytes(200, "text/xml", body)
            return

        self.send_bytes(int(spec.get("status", 200)), spec.get("content_type", "text/xml"), spec["body"].encode("utf-8"))

    def send_bytes(
        self,
        status: int,
        content_type: str,
        body: bytes,
        extra_headers: list[tuple[str, str]] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra_headers or []:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    # orgscan opens up to `concurrency` connections at once; the default
    # backlog of 5 would drop some and stall them for a SYN retransmit.
    request_queue_size = 128

    def __init__(self, state: State, upstream: Any, verbose: bool) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.state = state
        self.upstream = upstream
        self.verbose = verbose


def require_loopback(url: str) -> Any:
    parsed = urlparse(url)
    host = parsed.hostname
    if parsed.scheme != "http" or host is None or parsed.port is None:
        raise SystemExit(f"invalid --upstream {url!r}: expected http://127.0.0.1:PORT")
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise SystemExit(f"--upstream host {host!r} is not a loopback address")
    return parsed


def load_rules(path: str) -> list[Rule]:
    with open(path, encoding="utf-8") as rules_file:
        document = json.load(rules_file)
    specs = document.get("rules", []) if isinstance(document, dict) else document
    if not isinstance(specs, list):
        raise RuleError("the rule file must hold a list of rules or an object with a 'rules' list")
    return [Rule(index, spec) for index, spec in enumerate(specs)]


def stop_when_due(deadline: float, parent: int) -> None:
    """Exit the process at the deadline or once the parent process is gone."""
    while time.monotonic() < deadline:
        if os.getppid() != parent:
            log("parent process exited; stopping")
            os._exit(0)
        time.sleep(0.5)
    log("maximum run time reached; stopping")
    os._exit(0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="moto's URL on loopback, such as http://127.0.0.1:5000")
    parser.add_argument("--rules", required=True, help="JSON rule file")
    parser.add_argument("--port-file", required=True, help="file that receives the listening port once ready")
    parser.add_argument("--default-account", default="123456789012", help="account of access keys no AssumeRole returned")
    parser.add_argument("--max-seconds", type=float, default=900.0, help="stop after this many seconds")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args()

    upstream = require_loopback(args.upstream)
    try:
        rules = load_rules(args.rules)
    except (RuleError, ValueError) as error:
        raise SystemExit(f"invalid rule file {args.rules}: {error}") from None

    server = ProxyServer(State(rules, args.default_account), upstream, args.verbose)
    port = server.server_address[1]

    watchdog = threading.Thread(
        target=stop_when_due,
        args=(time.monotonic() + args.max_seconds, os.getppid()),
        daemon=True,
    )
    watchdog.start()

    # Write to a temporary name first so the reader never sees a partial port.
    temporary = args.port_file + ".tmp"
    with open(temporary, "w", encoding="utf-8") as port_file:
        port_file.write(str(port))
    os.replace(temporary, args.port_file)
    log(f"listening on 127.0.0.1:{port}, forwarding to {upstream.netloc}, {len(rules)} rule(s)")

    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
