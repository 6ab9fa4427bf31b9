// modmul: how many modular multiplications a second this machine does, in the fields provers work in.
//
// It multiplies in Montgomery form with gnark-crypto (the field arithmetic of gnark's provers, assembly on
// amd64 and arm64), on BN254's scalar field (254 bits, the field of Groth16, Halo2-KZG and arkworks
// provers here) and BLS12-381's base field (381 bits). Each worker runs CHAINS independent chains
// x <- x * y, so the core's multiplier is kept busy as a prover's batched work keeps it. It prints one JSON
// object: per field and per worker count, the rate of each repeat, and the product of every chain, so a
// caller can check the arithmetic was really done (x0 * y^n for a known x0, y and n). Rates are given per
// wall second (the machine's capacity as it was then, neighbours included) and per CPU second of the
// workers' threads (what a core does while it runs this, which a busy neighbour hardly moves).
package main

import (
	"encoding/json"
	"flag"
	"math"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	bls "github.com/consensys/gnark-crypto/ecc/bls12-381/fp"
	bn "github.com/consensys/gnark-crypto/ecc/bn254/fr"
)

const chains = 4

type run struct {
	Workers     int       `json:"workers"`
	Repeats     []float64 `json:"rates"`     // multiplications per wall second, one per repeat
	CPURates    []float64 `json:"cpu_rates"` // multiplications per CPU second of the workers' threads
	PerWorker   int64     `json:"multiplications_per_worker"`
	FirstResult string    `json:"first_chain_result"` // worker 0, chain 0, last repeat: x0 * y^n
}

type fieldOps struct {
	mulChain func(n int64, seed uint64) string
}

// bnChain and blsChain are written out per field on purpose: a generic over the element type would call
// Mul through Go's generic dictionary, and that indirection would be measured with the multiplications.
func bnChain(n int64, seed uint64) string {
	var x [chains]bn.Element
	var y bn.Element
	y.SetUint64(5)
	for c := range x {
		x[c].SetUint64(seed + uint64(c))
	}
	for i := int64(0); i < n; i++ {
		x[0].Mul(&x[0], &y)
		x[1].Mul(&x[1], &y)
		x[2].Mul(&x[2], &y)
		x[3].Mul(&x[3], &y)
	}
	return x[0].String()
}

func blsChain(n int64, seed uint64) string {
	var x [chains]bls.Element
	var y bls.Element
	y.SetUint64(5)
	for c := range x {
		x[c].SetUint64(seed + uint64(c))
	}
	for i := int64(0); i < n; i++ {
		x[0].Mul(&x[0], &y)
		x[1].Mul(&x[1], &y)
		x[2].Mul(&x[2], &y)
		x[3].Mul(&x[3], &y)
	}
	return x[0].String()
}

// measure runs `workers` goroutines, each `n` rounds of `chains` multiplications, `repeats` times.
func measure(f fieldOps, workers int, n int64, repeats int) run {
	out := run{Workers: workers, PerWorker: n * chains}
	for r := 0; r < repeats; r++ {
		results := make([]string, workers)
		cpu := make([]float64, workers)
		var wg sync.WaitGroup
		start := time.Now()
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				runtime.LockOSThread() // the thread's own CPU clock measures this worker alone
				defer runtime.UnlockOSThread()
				before := threadCPU()
				results[w] = f.mulChain(n, 3)
				cpu[w] = threadCPU() - before
			}(w)
		}
		wg.Wait()
		elapsed := time.Since(start).Seconds()
		total := float64(n * chains * int64(workers))
		out.Repeats = append(out.Repeats, total/elapsed)
		spent := 0.0
		for _, c := range cpu {
			spent += c
		}
		if spent <= 0 { // too short for the thread clock to tick: no CPU rate for this repeat
			spent = math.Inf(1)
		}
		out.CPURates = append(out.CPURates, total/spent)
		out.FirstResult = results[0]
	}
	return out
}

// threadCPU is the CPU time (user + system) of the calling OS thread, in seconds: a neighbour that takes
// the core stretches wall time, not this.
func threadCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

const rusageThread = 1 // RUSAGE_THREAD (Linux)

func main() {
	rounds := flag.Int64("rounds", 2_000_000, "rounds per worker and repeat (each round is 4 multiplications)")
	repeats := flag.Int("repeats", 5, "repeats of each measurement")
	only := flag.String("field", "", "measure this field alone (bn254_fr or bls12_381_fp; default both)")
	allOnly := flag.Bool("all-cores-only", false, "measure on all cores only (an energy reading around it)")
	flag.Parse()
	fields := map[string]fieldOps{"bn254_fr": {bnChain}, "bls12_381_fp": {blsChain}}
	if *only != "" {
		f, ok := fields[*only]
		if !ok {
			os.Stderr.WriteString("modmul: unknown field " + *only + "\n")
			os.Exit(2)
		}
		fields = map[string]fieldOps{*only: f}
	}
	report := map[string]any{"version": 1, "cores": runtime.NumCPU(), "chains": chains, "fields": map[string]any{}}
	for name, f := range fields {
		runs := map[string]run{}
		if !*allOnly {
			runs["single"] = measure(f, 1, *rounds, *repeats)
		}
		runs["all"] = measure(f, runtime.NumCPU(), *rounds, *repeats)
		report["fields"].(map[string]any)[name] = runs
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(report); err != nil {
		os.Exit(1)
	}
}
