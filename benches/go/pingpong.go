// The Go baseline for BENCHMARKS.md: what the course's Go program pays per message. Two
// goroutines on loopback, each with its own net.UDPConn (the runtime's netpoller: it tries the
// read first and parks the goroutine on EAGAIN), WriteToUDP / ReadFromUDP with a 5-byte
// payload, as in benches/latency.rs. The median of BATCHES batches of ROUNDS round trips each,
// after one warm-up batch.
//
//	go build -o pingpong . && ./pingpong
//
// prints one line that scripts/bench/bench-report.sh parses:
//
//	go_round_trip median_ns=11012.3 min_ns=... max_ns=... batches=100 rounds=2000 go=go1.19.8 cpu_ns=...
//
// cpu_ns: the CPU time per round trip over the timed batches, of every thread of the process
// (the runtime's too), from /proc/self/task/*/schedstat, as benches/latency.rs measures ours.
package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// cpuNs is every thread's time on a CPU so far, in ns.
func cpuNs() uint64 {
	var sum uint64
	paths, _ := filepath.Glob("/proc/self/task/*/schedstat")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if v, err := strconv.ParseUint(strings.Fields(string(b))[0], 10, 64); err == nil {
			sum += v
		}
	}
	return sum
}

const (
	batches = 100
	rounds  = 2000
)

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "pingpong:", err)
		os.Exit(1)
	}
}

func main() {
	a, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 45, 2), Port: 10002})
	must(err)
	b, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 45, 3), Port: 10003})
	must(err)
	bAddr := b.LocalAddr().(*net.UDPAddr)

	// The echo: answers every datagram to its sender until it reads "stop".
	done := make(chan struct{})
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := b.ReadFromUDP(buf)
			must(err)
			if string(buf[:n]) == "stop" {
				close(done)
				return
			}
			_, err = b.WriteToUDP(buf[:n], from)
			must(err)
		}
	}()

	buf := make([]byte, 2048)
	msg := []byte("12345")
	batch := func() time.Duration {
		start := time.Now()
		for i := 0; i < rounds; i++ {
			_, err := a.WriteToUDP(msg, bAddr)
			must(err)
			_, _, err = a.ReadFromUDP(buf)
			must(err)
		}
		return time.Since(start)
	}
	batch() // warm-up
	per := make([]float64, batches)
	cpu0 := cpuNs()
	for k := range per {
		per[k] = float64(batch().Nanoseconds()) / rounds
	}
	cpu := float64(cpuNs()-cpu0) / (batches * rounds)
	_, err = a.WriteToUDP([]byte("stop"), bAddr)
	must(err)
	<-done
	sort.Float64s(per)
	median := (per[batches/2-1] + per[batches/2]) / 2
	fmt.Printf("go_round_trip median_ns=%.1f min_ns=%.1f max_ns=%.1f batches=%d rounds=%d go=%s cpu_ns=%.1f\n",
		median, per[0], per[batches-1], batches, rounds, runtime.Version(), cpu)
}
