"""Flux's own front end over the stack's queries: parsed and type-checked against the standard
library's signatures by flux-lsp (tests/js/flux-compile.mjs; `make test` installs it with npm). No
InfluxDB here, so nothing runs; what this catches is everything InfluxDB would refuse before
running: syntax, unknown functions, wrong or missing arguments, type errors.

Grafana's queries are checked the way Grafana hands them to InfluxDB: dashboard variables
substituted first (by Grafana's frontend), then the Flux macros of Grafana's InfluxDB backend
(grafana/grafana pkg/tsdb/influxdb/flux/macros.go: interpolateFluxSpecificVariables replaces
`<word>.timeRangeStart|timeRangeStop|windowPeriod|bucket|defaultBucket|organization`,
interpolateInterval replaces `$__interval_ms` and `$__interval`)."""

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

COMPILER = Path(__file__).parent / "js" / "flux-compile.mjs"
ERROR = 1  # LSP DiagnosticSeverity.Error


def flux_errors(documents: dict[str, str]) -> dict[str, list[str]]:
    """{name: ["line:column message", ...]} of Flux's errors for each document (warnings, such as
    "avoid using `task` as an identifier" on InfluxDB's own `option task`, are not errors)."""
    done = subprocess.run(["node", str(COMPILER)], input=json.dumps(documents),
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    answers = json.loads(done.stdout)
    assert answers.keys() == documents.keys()
    return {name: [f"{d['line']}:{d['column']} {d['message']}" for d in diagnostics
                   if d["severity"] == ERROR]
            for name, diagnostics in answers.items()}


@dataclass(frozen=True)
class GrafanaQueryContext:
    """What Grafana knows when it sends a query: the dashboard's variables, the datasource's
    settings, the panel's time range and interval."""
    variables: dict[str, str]      # name -> value as Grafana formats it
    default_bucket: str
    organization: str
    start: str = "2026-06-21T04:00:00Z"   # time.RFC3339Nano of the range
    stop: str = "2026-06-21T16:00:00Z"
    interval_seconds: int = 60

    def go_duration(self) -> str:
        """time.Duration.String(): 60 s -> 1m0s, 30 s -> 30s, 3600 s -> 1h0m0s."""
        hours, rest = divmod(self.interval_seconds, 3600)
        minutes, seconds = divmod(rest, 60)
        if hours:
            return f"{hours}h{minutes}m{seconds}s"
        return f"{minutes}m{seconds}s" if minutes else f"{seconds}s"

    def grafana_interval(self) -> str:
        """gtime.FormatInterval: the largest whole unit (1m, 30s, 1h)."""
        for unit, seconds in (("d", 86400), ("h", 3600), ("m", 60)):
            if self.interval_seconds >= seconds:
                return f"{self.interval_seconds // seconds}{unit}"
        return f"{self.interval_seconds}s"

    def interpolate(self, query: str) -> str:
        def variable(match: re.Match) -> str:
            name = match.group(1)
            assert name in self.variables, f"dashboard variable ${{{name}}} is not defined"
            return self.variables[name]

        flux = re.sub(r"\$\{(\w+)(?::\w+)?\}", variable, query)
        macros = {"timeRangeStart": self.start, "timeRangeStop": self.stop,
                  "windowPeriod": self.go_duration(),
                  "bucket": json.dumps(self.default_bucket),
                  "defaultBucket": json.dumps(self.default_bucket),
                  "organization": json.dumps(self.organization)}
        flux = re.sub(r"([a-zA-Z]+)\.([a-zA-Z]+)",
                      lambda m: macros.get(m.group(2), m.group(0)), flux)
        flux = flux.replace("$__interval_ms", str(self.interval_seconds * 1000))
        return flux.replace("$__interval", self.grafana_interval())
