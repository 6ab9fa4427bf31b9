// Wall and CPU time of a call inside a stage script (o1js, noir): CPU is the whole node process's, worker
// threads included, so a prover that works on several threads is counted whole.
export function cpuSeconds() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

export async function timed(fn) {
  const t0 = performance.now(), c0 = cpuSeconds();
  const value = await fn();
  return { value, wall: (performance.now() - t0) / 1000, cpu: cpuSeconds() - c0 };
}
