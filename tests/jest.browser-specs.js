// The specs that drive headless Chromium (listed once: jest.config.js leaves them out of the suite,
// jest.browser.config.js runs them after it, one file at a time: a rendering browser takes a core to
// itself, and the suite's waits should not share the machine with it).
module.exports = ['src/e2e/dashboard.spec.ts', 'src/e2e/openapi.spec.ts'];
