// Mocha's spec reporter, plus at the end a table of each test file's wall time (slowest first),
// so the next slow file in .ci/run is visible, and the plain closing line "N passed, N failed".
// CommonJS: mocha loads reporters with require().
'use strict';
const Mocha = require('mocha');
const { EVENT_SUITE_BEGIN, EVENT_SUITE_END, EVENT_TEST_PASS, EVENT_TEST_FAIL, EVENT_TEST_PENDING, EVENT_RUN_END } = Mocha.Runner.constants;

class FileTimesReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const files = new Map(); // file -> { start, end, passed, failed, pending }
    const entry = (file) => {
      let e = files.get(file);
      if (!e) files.set(file, (e = { start: Date.now(), end: Date.now(), passed: 0, failed: 0, pending: 0 }));
      return e;
    };
    const fileOf = (r) => {
      for (let s = r; s; s = s.parent) if (s.file) return s.file;
      return '(no file)';
    };
    runner.on(EVENT_SUITE_BEGIN, (s) => s.file && entry(s.file));
    runner.on(EVENT_SUITE_END, (s) => s.file && (entry(s.file).end = Date.now()));
    runner.on(EVENT_TEST_PASS, (t) => entry(fileOf(t)).passed++);
    runner.on(EVENT_TEST_PENDING, (t) => entry(fileOf(t)).pending++);
    // A failing hook counts as a failure of its file, as mocha counts it.
    runner.on(EVENT_TEST_FAIL, (t) => entry(fileOf(t)).failed++);
    runner.once(EVENT_RUN_END, () => {
      const rows = [...files].map(([file, e]) => ({ file: file.replace(/^.*\/dist\//, ''), s: (e.end - e.start) / 1000, ...e })).sort((a, b) => b.s - a.s);
      const total = rows.reduce((t, r) => t + r.s, 0);
      const width = Math.max(4, ...rows.map((r) => r.file.length));
      const out = ['', 'wall time per test file (slowest first):', `  ${'file'.padEnd(width)}  ${'seconds'.padStart(8)}  passed  failed`];
      for (const r of rows) out.push(`  ${r.file.padEnd(width)}  ${r.s.toFixed(1).padStart(8)}  ${String(r.passed).padStart(6)}  ${String(r.failed).padStart(6)}`);
      out.push(`  ${'all files'.padEnd(width)}  ${total.toFixed(1).padStart(8)}`);
      const passed = rows.reduce((n, r) => n + r.passed, 0);
      const failed = rows.reduce((n, r) => n + r.failed, 0);
      const pending = rows.reduce((n, r) => n + r.pending, 0);
      out.push('', `mocha: ${passed} passed, ${failed} failed${pending ? `, ${pending} skipped` : ''}`);
      process.stdout.write(out.join('\n') + '\n');
    });
  }
}

module.exports = FileTimesReporter;
