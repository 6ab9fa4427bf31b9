// Each repeat's own peak memory inside a stage script: the process's high-water mark of resident memory is
// reset before a call and read after it (Linux /proc: clear_refs 5, VmHWM). Worker threads share the
// process's memory, so a prover on several threads is counted whole. Where /proc cannot do it, the peaks are
// null and the stage reports none: the tracker then has the whole child's peak alone.
//
// The kernel's own peak of the process (what wait4 gives the tracker when it ends) is that same mark, so a
// reset clears it too: the highest mark cleared is kept (`clearedPeak`) and reported as "peak_rss_cleared",
// and the tracker's whole-child peak is the larger of it and what it measured.
"use strict";
const fs = require("fs");

let cleared = 0;

function resetPeak() {
  try {
    cleared = Math.max(cleared, peakBytes() || 0);
    fs.writeFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch (e) {
    return false;
  }
}

function clearedPeak() {
  return cleared || undefined;
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

module.exports = { resetPeak, peakBytes, allPeaks, clearedPeak };
