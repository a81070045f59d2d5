"""A stand-in for AWS Lambda's account figures on loopback, for `make deploy`'s look at the
account (tools/lambda_concurrency.py). Ours: moto has no GetAccountSettings. It answers the two
operations the tool calls, GetAccountSettings and GetFunction, at the paths and in the shapes of
botocore's lambda model (2015-03-31): every answer is checked against the operation's output shape
before it is served, so the stand-in cannot say what AWS's API cannot. A denied caller gets what
AWS sends an identity whose policy lacks the action: HTTP 403, `x-amzn-ErrorType:
AccessDeniedException`."""

from __future__ import annotations

import json
import re

import botocore.session
from botocore.validate import ParamValidator

from loopback_http import Server

MODEL = botocore.session.get_session().get_service_model("lambda")
SERVED = ("GetAccountSettings", "GetFunction")


def _route(operation: str) -> re.Pattern:
    """The operation's requestUri as a pattern: `{FunctionName}` matches one path segment."""
    uri = MODEL.operation_model(operation).http["requestUri"]
    return re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/?]+)", re.escape(uri)) + "$")


ROUTES = {operation: _route(operation) for operation in SERVED}


def checked(operation: str, answer: dict) -> dict:
    """`answer`, after botocore's validator found it fits the operation's output shape."""
    report = ParamValidator().validate(answer, MODEL.operation_model(operation).output_shape)
    if report.has_errors():
        raise ValueError(f"not a {operation} answer: {report.generate_report()}")
    return answer


class LambdaAccount:
    """`quota`/`unreserved`: AccountLimit's ConcurrentExecutions and
    UnreservedConcurrentExecutions (None: left out); `reservations`: function name -> its
    reserved concurrency (None: the function exists and reserves none); `denied`: every call
    refused. `asked` lists the operations called, in order."""

    def __init__(self, quota: int | None = 1000, unreserved: int | None = 1000,
                 reservations: dict[str, int | None] | None = None, denied: bool = False):
        figures = {"ConcurrentExecutions": quota, "UnreservedConcurrentExecutions": unreserved}
        self.settings = checked("GetAccountSettings", {
            "AccountLimit": {"TotalCodeSize": 80530636800, "CodeSizeUnzipped": 262144000,
                             "CodeSizeZipped": 52428800,
                             **{name: value for name, value in figures.items()
                                if value is not None}},
            "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": 0}})
        self.functions = {name: checked("GetFunction", {
            "Configuration": {"FunctionName": name, "Runtime": "python3.13", "MemorySize": 128},
            **({} if reserved is None else
               {"Concurrency": {"ReservedConcurrentExecutions": reserved}})})
            for name, reserved in (reservations or {}).items()}
        self.denied, self.asked = denied, []
        self.server = Server(self._respond)
        self.url = self.server.url

    def _respond(self, path, headers, body):
        for operation, route in ROUTES.items():
            found = route.match(path.split("?")[0])
            if found:
                break
        else:
            return 404, {"x-amzn-ErrorType": "UnknownOperationException"}, "{}"
        self.asked.append(operation)
        if self.denied:
            return 403, {"x-amzn-ErrorType": "AccessDeniedException"}, json.dumps({
                "Message": "User: arn:aws:iam::123456789012:user/deployer is not authorized to "
                           f"perform: lambda:{operation} because no identity-based policy allows "
                           f"the lambda:{operation} action"})
        if operation == "GetAccountSettings":
            return 200, {"Content-Type": "application/json"}, json.dumps(self.settings)
        name = found.group("FunctionName")
        if name not in self.functions:
            return 404, {"x-amzn-ErrorType": "ResourceNotFoundException"}, json.dumps(
                {"Type": "User", "Message": f"Function not found: {name}"})
        return 200, {"Content-Type": "application/json"}, json.dumps(self.functions[name])

    def close(self):
        self.server.close()
