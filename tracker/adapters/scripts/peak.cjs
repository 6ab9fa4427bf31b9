// Each repeat's own peak memory inside a stage script: the process's high-water mark of resident memory is
// reset before a call and read after it (Linux /proc: clear_refs 5, VmHWM). Worker threads share the
// process's memory, so a prover on several threads is counted whole. Where /proc cannot do it, the peaks are
// null and the stage reports none: the tracker then has the whole child's peak alone.
"use strict";
const fs = require("fs");

function resetPeak() {
  try {
    fs.writeFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch (e) {
    return false;
  }
}

function peakBytes() {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(fs.readFileSync("/proc/self/status", "utf8"));
    return m ? Number(m[1]) * 1024 : null;
  } catch (e) {
    return null;
  }
}

// The peaks of a stage's repeats for its result file, or undefined where any is missing.
function allPeaks(peaks) {
  return peaks.length && peaks.every((p) => Number.isInteger(p) && p > 0) ? peaks : undefined;
}

module.exports = { resetPeak, peakBytes, allPeaks };
