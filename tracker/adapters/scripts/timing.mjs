// Wall and CPU time of a call inside a stage script (o1js, noir): CPU is the whole node process's, worker
// threads included, so a prover that works on several threads is counted whole; and the call's own peak
// memory (peak.cjs), null where /proc cannot reset the process's high-water mark.
import peak from './peak.cjs';

// What a stage script writes to its result file: the samples, each repeat's peak where all were read,
// the highest mark its resets cleared, and the stage's data.
export function resultJson(samples, cpu, data, peaks = []) {
  return JSON.stringify({ samples, cpu, peak_rss: peak.allPeaks(peaks), peak_rss_cleared: peak.clearedPeak(), data });
}

export function cpuSeconds() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

export async function timed(fn) {
  const reset = peak.resetPeak();
  const t0 = performance.now(), c0 = cpuSeconds();
  const value = await fn();
  const wall = (performance.now() - t0) / 1000, cpu = cpuSeconds() - c0;
  return { value, wall, cpu, peak: reset ? peak.peakBytes() : null };
}
