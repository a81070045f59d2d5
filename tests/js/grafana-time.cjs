// What Grafana computes for a panel's time range and v.windowPeriod, with Grafana's own code from
// npm (@grafana/data): the panel's range from its `timeFrom` (as PanelTimeRange.getTimeOverride
// does: rangeUtil.describeTextRange, then dateMath.parse in the dashboard's time zone, only while
// the dashboard's range is relative) and the interval (rangeUtil.calculateInterval with the
// datasource's timeInterval as the low limit). "now" is fixed through moment's clock hook.
// Reads {now, timezone, dashboard: {from, to}, panels: [{timeFrom, width, minInterval}]} as JSON
// on stdin; writes [{from, to, intervalMs}] (ISO times).
const moment = require('moment');
const { rangeUtil, dateMath } = require('@grafana/data');

const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
moment.now = () => Date.parse(input.now);
const dashboard = input.dashboard;
const out = input.panels.map((panel) => {
  let from = dashboard.from;
  let to = dashboard.to;
  if (panel.timeFrom && rangeUtil.isRelativeTimeRange({ from, to })) {
    const info = rangeUtil.describeTextRange(panel.timeFrom);
    from = info.from;
    to = info.to;
  }
  const range = {
    from: dateMath.parse(from, false, input.timezone),
    to: dateMath.parse(to, true, input.timezone),
  };
  range.raw = { from, to };
  const interval = rangeUtil.calculateInterval(range, panel.width, panel.minInterval);
  return { from: range.from.toISOString(), to: range.to.toISOString(), intervalMs: interval.intervalMs };
});
process.stdout.write(JSON.stringify(out));
