"""Grafana's own dashboard schema over our dashboard: the TypeScript types Grafana generates from
its schema (npm @grafana/schema, pinned in tests/js/package.json) and the TypeScript compiler
check every key and enum value of the dashboard, each panel against its own plugin's options and
field config (raw/composable/<plugin>/panelcfg/x/types.gen). Grafana ignores a key it does not
know and a colour mode or mapping type it does not have, so these mistakes show nothing rather
than an error; this finds them.

Not checked (Grafana fills or migrates them at load): which options are required; options are
compared as deep-partial objects, and string enums as their values (JSON has no enums)."""

import json
import subprocess
from pathlib import Path

TOOLS = Path(__file__).parent / "js"
COMPOSABLE = "@grafana/schema/dist/types/raw/composable"
# Panel type -> (module under raw/composable, whether it has a FieldConfig of its own).
PLUGINS = {
    "timeseries": ("timeseries", True),
    "stat": ("stat", False),
    "gauge": ("gauge", False),
    "bargauge": ("bargauge", False),
    "state-timeline": ("statetimeline", True),
    "table": ("table", True),
}
PRELUDE = """\
import type * as schema from "@grafana/schema";
{imports}

// JSON has no enums: a string enum is checked as the union of its values.
type Json<T> = T extends string ? `${{T}}` : T extends Array<infer U> ? Array<Json<U>>
  : T extends object ? {{ [K in keyof T]?: Json<T[K]> }} : T;
type Custom<F> = Omit<schema.FieldConfig, "custom" | "mappings" | "thresholds" | "color"> & {{
  custom?: F; mappings?: Json<schema.ValueMapping>[]; thresholds?: Json<schema.ThresholdsConfig>;
  color?: Json<schema.FieldColor>;
}};
type PanelOf<O, F> = Omit<schema.Panel, "options" | "fieldConfig" | "type"> & {{
  type: string; options?: Json<O>;
  fieldConfig?: Omit<schema.FieldConfigSource, "defaults"> & {{ defaults: Custom<F> }};
}};
type Row = Omit<schema.RowPanel, "panels" | "type"> & {{ type: "row"; panels: [] }};
type Board = Omit<schema.Dashboard, "panels" | "templating"> & {{
  panels: unknown[]; templating: {{ list: Json<schema.VariableModel>[] }};
}};
"""


def typescript_of(dashboard: dict) -> str:
    """A TypeScript file that compiles only if the dashboard fits Grafana's schema."""
    used = sorted({PLUGINS[p["type"]][0] for p in dashboard["panels"] if p["type"] in PLUGINS})
    imports = "\n".join(f'import type * as {m} from "{COMPOSABLE}/{m}/panelcfg/x/types.gen";'
                        for m in used)
    lines = [PRELUDE.format(imports=imports)]
    for index, panel in enumerate(dashboard["panels"]):
        if panel["type"] == "row":
            kind = "Row"
        else:
            assert panel["type"] in PLUGINS, f"panel {panel['title']!r}: add its type to PLUGINS"
            module, has_field_config = PLUGINS[panel["type"]]
            field_config = f"Json<{module}.FieldConfig>" if has_field_config else "Record<string, never>"
            kind = f"PanelOf<{module}.Options, {field_config}>"
        lines.append(f"export const panel{index}: {kind} = {json.dumps(panel, indent=1)};")
    board = {key: value for key, value in dashboard.items() if key != "panels"}
    board["panels"] = []
    lines.append(f"export const dashboard: Board = {json.dumps(board, indent=1)};")
    return "\n".join(lines) + "\n"


def schema_errors(dashboard: dict, work: Path) -> list[str]:
    """tsc's errors for the dashboard ([] when it fits), each "file(line,col): error TS…: …"."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "node_modules").symlink_to(TOOLS / "node_modules")
    (work / "dashboard.ts").write_text(typescript_of(dashboard))
    (work / "tsconfig.json").write_text(json.dumps({
        "compilerOptions": {"strict": True, "noEmit": True, "skipLibCheck": True,
                            "module": "esnext", "moduleResolution": "node10",
                            "ignoreDeprecations": "5.0", "target": "es2022"},
        "files": ["dashboard.ts"]}))
    done = subprocess.run([str(TOOLS / "node_modules" / ".bin" / "tsc"), "-p", str(work)],
                          capture_output=True, text=True, timeout=180, check=False)
    errors = [line for line in done.stdout.splitlines() if ": error TS" in line]
    assert errors or done.returncode == 0, done.stdout + done.stderr
    return errors
