/*
 * The four small charts of a borehole page, drawn by uPlot (served from /assets) from the JSON
 * data block the server wrote into the page. Plain ES5-style JavaScript: no build step, and it
 * runs on the old Android browsers found on cheap phones.
 */
(function () {
  'use strict';
  var node = document.getElementById('series-data');
  if (!node || typeof uPlot === 'undefined') return;
  var d = JSON.parse(node.textContent || '{}');
  if (!d.t || d.t.length === 0) return;

  var dayFmt = new Intl.DateTimeFormat('fr-FR', { timeZone: d.tz, weekday: 'short', day: 'numeric' });
  var hourFmt = new Intl.DateTimeFormat('fr-FR', { timeZone: d.tz, hour: '2-digit', minute: '2-digit' });
  var fullFmt = new Intl.DateTimeFormat('fr-FR', { timeZone: d.tz, weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
  var num = new Intl.NumberFormat('fr-FR', { maximumFractionDigits: 1 });

  function tzDate(ts) {
    return uPlot.tzDate(new Date(ts * 1000), d.tz);
  }

  function timeTicks(u, splits) {
    return splits.map(function (s) {
      var local = tzDate(s);
      var date = new Date(s * 1000);
      return local.getHours() === 0 && local.getMinutes() === 0 ? dayFmt.format(date) : hourFmt.format(date);
    });
  }

  function constant(value) {
    return d.t.map(function () { return value; });
  }

  function unitValue(unit) {
    return function (u, v) { return v == null ? '—' : num.format(v) + ' ' + unit; };
  }

  var grid = { stroke: '#e3e8ee', width: 1 };
  var xAxis = { values: timeTicks, space: 70, grid: grid, ticks: { stroke: '#c7d0d9' }, font: '12px system-ui, sans-serif', stroke: '#5b6b7a' };
  function yAxis(size) {
    return { grid: grid, ticks: { stroke: '#c7d0d9' }, size: size || 48, font: '12px system-ui, sans-serif', stroke: '#5b6b7a',
      values: function (u, splits) { return splits.map(function (v) { return num.format(v); }); } };
  }
  var timeSeries = { label: 'Heure', value: function (u, v) { return v == null ? '—' : fullFmt.format(new Date(v * 1000)); } };

  var charts = [
    {
      id: 'chart-flow',
      data: [d.t, d.flow, constant(d.ratedFlowLpm)],
      series: [
        timeSeries,
        { label: 'Débit', stroke: '#1f77b4', width: 2, fill: 'rgba(31, 119, 180, 0.12)', value: unitValue('l/min') },
        { label: 'Nominal', stroke: '#8a97a5', width: 1, dash: [6, 4], value: unitValue('l/min') },
      ],
      scales: { y: { range: function (u, min, max) { return [0, Math.max(max || 0, d.ratedFlowLpm) * 1.1]; } } },
    },
    {
      id: 'chart-level',
      data: [d.t, d.depthMax, d.depthMean, d.depthMin, constant(d.intakeDepthM)],
      series: [
        timeSeries,
        { label: 'Le plus bas', stroke: 'rgba(0, 105, 92, 0.35)', width: 1, value: unitValue('m') },
        { label: 'Moyen', stroke: '#00695c', width: 2, value: unitValue('m') },
        { label: 'Le plus haut', stroke: 'rgba(0, 105, 92, 0.35)', width: 1, value: unitValue('m') },
        { label: 'Crépine', stroke: '#c62828', width: 2, dash: [8, 4], value: unitValue('m') },
      ],
      bands: [{ series: [1, 3], fill: 'rgba(0, 105, 92, 0.12)' }],
      // Depth below ground: the surface at the top, deeper water lower down, the intake near the bottom.
      scales: { y: { dir: -1, range: function (u, min, max) { return [0, Math.max(max || 0, d.intakeDepthM) * 1.08]; } } },
    },
    {
      id: 'chart-run',
      data: [d.t, d.runMinutes],
      series: [
        timeSeries,
        { label: 'En marche', stroke: '#2e7d32', fill: 'rgba(46, 125, 50, 0.55)', width: 0, paths: uPlot.paths.bars({ size: [0.9, 40] }), value: unitValue('min') },
      ],
      scales: { y: { range: [0, d.everyMinutes] } },
    },
    {
      id: 'chart-current',
      data: [d.t, d.current],
      series: [timeSeries, { label: 'Courant', stroke: '#ef6c00', width: 2, value: unitValue('A') }],
      scales: { y: { range: function (u, min, max) { return [0, (max || 1) * 1.15]; } } },
    },
  ];

  var drawn = [];
  charts.forEach(function (chart) {
    var el = document.getElementById(chart.id);
    if (!el) return;
    var opts = {
      width: Math.max(260, el.clientWidth),
      height: 190,
      tzDate: tzDate,
      series: chart.series,
      bands: chart.bands,
      scales: Object.assign({ x: { time: true } }, chart.scales),
      axes: [xAxis, yAxis()],
      legend: { live: true },
      cursor: { sync: { key: 'borehole' }, drag: { x: false, y: false } },
    };
    drawn.push({ el: el, plot: new uPlot(opts, chart.data, el) });
  });

  var pending = null;
  window.addEventListener('resize', function () {
    if (pending) clearTimeout(pending);
    pending = setTimeout(function () {
      drawn.forEach(function (c) { c.plot.setSize({ width: Math.max(260, c.el.clientWidth), height: 190 }); });
    }, 150);
  });

  // For people who print: charts redrawn at the paper's width, then back.
  window.addEventListener('beforeprint', function () {
    drawn.forEach(function (c) { c.plot.setSize({ width: Math.max(260, c.el.clientWidth), height: 170 }); });
  });

  window.boreholeCharts = drawn.map(function (c) { return c.plot; });
  document.documentElement.setAttribute('data-charts', String(drawn.length));
})();
