// Writes Jest's aggregated counts to a file so .ci/run can print "N passed, N failed"
// from the real results of every package.
const fs = require('node:fs');

class ResultsReporter {
  constructor(_globalConfig, options) {
    this.outputFile = options.outputFile;
  }

  onRunComplete(_contexts, results) {
    const { numPassedTests, numFailedTests, numPendingTests, numTodoTests, numRuntimeErrorTestSuites } = results;
    fs.writeFileSync(
      this.outputFile,
      // A suite that fails to load has no failed tests, yet it failed: count it.
      JSON.stringify({
        numPassedTests,
        numFailedTests: numFailedTests + numRuntimeErrorTestSuites,
        numPendingTests: numPendingTests + numTodoTests,
      }),
    );
  }
}

module.exports = ResultsReporter;
