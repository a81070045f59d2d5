// What Grafana makes of a panel, with Grafana's own code from npm (@grafana/data), for
// tests/test_panels.py. One process serves every request of a test session: one JSON request a
// line on stdin, one JSON answer a line on stdout.
//
// {"op": "ranges", now, timezone, dashboard: {from, to}, panels: [{timeFrom, width, minInterval}]}
//   -> [{from, to, intervalMs}]: the panel's time range from its `timeFrom` (as
//   PanelTimeRange.getTimeOverride does: rangeUtil.describeTextRange, then dateMath.parse in the
//   dashboard's time zone, only while the dashboard's range is relative) and v.windowPeriod
//   (rangeUtil.calculateInterval with the panel's width as maxDataPoints and the datasource's
//   timeInterval as the low limit: grafana public/app/features/dashboard-scene/utils/
//   createPanelDataProvider.ts:28 sets maxDataPointsFromWidth, grafana/scenes packages/scenes/
//   src/querying/SceneQueryRunner.ts:605-611 then takes the panel's width, set by
//   VizPanelRenderer.tsx:147-148, and :794-795 calls calculateInterval). "now" is fixed through
//   moment's clock hook.
// {"op": "display", timezone, panel: {fieldConfig, options}, frames: [{name, fields: [{name,
//   type, values, labels}]}]}
//   -> {names: [the display name of every non-time field], values: [{title, text, color}]}:
//   names as a legend or a table header shows them (getFieldDisplayName), values as a stat,
//   gauge or bar gauge shows them (getFieldDisplayValues, with the panel's reduceOptions,
//   noValue and value mappings), color as the name of the theme colour it resolves to.
globalThis.navigator = { language: 'en-US', languages: ['en-US'] };  // read by @grafana/data's date formats
const moment = require('moment');
const readline = require('readline');
const data = require('@grafana/data');

const theme = data.createTheme();
const COLOR_NAMES = ['green', 'orange', 'red', 'blue', 'text', 'transparent'];

function ranges(input) {
  moment.now = () => Date.parse(input.now);
  const dashboard = input.dashboard;
  return input.panels.map((panel) => {
    let from = dashboard.from;
    let to = dashboard.to;
    if (panel.timeFrom && data.rangeUtil.isRelativeTimeRange({ from, to })) {
      const info = data.rangeUtil.describeTextRange(panel.timeFrom);
      from = info.from;
      to = info.to;
    }
    const range = {
      from: data.dateMath.parse(from, false, input.timezone),
      to: data.dateMath.parse(to, true, input.timezone),
    };
    range.raw = { from, to };
    const interval = data.rangeUtil.calculateInterval(range, panel.width, panel.minInterval);
    return { from: range.from.toISOString(), to: range.to.toISOString(), intervalMs: interval.intervalMs };
  });
}

function colorName(hex) {
  return COLOR_NAMES.find((name) => theme.visualization.getColorByName(name) === hex) ?? hex;
}

function display(input) {
  const fieldConfig = { defaults: input.panel.fieldConfig?.defaults ?? {}, overrides: [] };
  const frames = input.frames.map((frame) => data.toDataFrame({
    name: frame.name,
    fields: frame.fields.map((f) => ({ name: f.name, type: f.type, labels: f.labels, config: {},
      values: f.type === 'time' ? f.values.map((v) => Date.parse(v)) : f.values })),
  }));
  // What applyFieldOverrides does for a panel without overrides (packages/grafana-data/src/
  // field/fieldOverrides.ts): the panel's defaults become each field's config, and each field
  // gets a display processor for them.
  for (const frame of frames) {
    for (const field of frame.fields) {
      field.config = structuredClone(fieldConfig.defaults);
      field.display = data.getDisplayProcessor({ field, theme, timeZone: input.timezone });
    }
  }
  const names = frames.flatMap((frame) => frame.fields.filter((f) => f.type !== 'time')
    .map((field) => data.getFieldDisplayName(field, frame, frames)));
  const values = input.panel.options?.reduceOptions ? data.getFieldDisplayValues({
    data: frames, fieldConfig, reduceOptions: input.panel.options.reduceOptions,
    replaceVariables: (text) => text, theme, timeZone: input.timezone,
  }).map((v) => ({ title: v.display.title ?? null, text: data.formattedValueToString(v.display),
    color: colorName(v.display.color) })) : [];
  return { names, values };
}

const lines = readline.createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const input = JSON.parse(line);
  const answer = input.op === 'ranges' ? ranges(input) : display(input);
  process.stdout.write(JSON.stringify(answer) + '\n');
});
