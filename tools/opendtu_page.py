"""`make opendtu-settings`: what to type into OpenDTU's MQTT settings page (Settings → MQTT), field
by field in the page's order, from the stack's secret `openDtuSettings` output. Switches show as
on/off, the CA certificate in full on the lines after its label;
`ARGS="--field Password"` prints one field's value alone (e.g. to copy it)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.stack_file import StackError, add_stack_arguments, stack_from  # noqa: E402
from tools.stack_outputs import OutputsError, load_outputs, opendtu_settings  # noqa: E402


def shown(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if value == "":
        return "(leave empty)"
    return str(value)


def page(settings: dict) -> list[str]:
    lines = []
    for field, value in settings.items():
        text = shown(value)
        lines += [f"{field}:", text.rstrip("\n")] if "\n" in text else [f"{field}: {text}"]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_stack_arguments(parser)
    parser.add_argument("--field", help="print only this field's value, e.g. Password")
    parser.add_argument("--outputs", type=Path, help="stack outputs as JSON (default: pulumi)")
    options = parser.parse_args(argv)
    try:
        settings = opendtu_settings(load_outputs(options.outputs, stack_from(options).name))
    except (OutputsError, StackError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if options.field is not None:
        # As the user types it: "password" is the page's "Password".
        field = next((name for name in settings if name.lower() == options.field.lower()), None)
        if field is None:
            print(f"error: --field {options.field!r}: OpenDTU's page has "
                  f"{', '.join(settings)}", file=sys.stderr)
            return 2
        print(str(settings[field]).rstrip("\n"))
        return 0
    print("\n".join(page(settings)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
