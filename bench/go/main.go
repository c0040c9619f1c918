// The Go contender of goro's comparison harness: the same workloads, written as a Go
// programmer would, printing `RESULT name=value ... answer=N` like the Rust side.
//
// go build -o goro-bench-go main.go; GOMAXPROCS=2 ./goro-bench-go WORKLOAD VARIANT SIZE...
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func arg(i int) uint64 {
	if i >= len(os.Args) {
		return 1
	}
	n, _ := strconv.ParseUint(os.Args[i], 10, 64)
	return n
}

func status(key string) float64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, key) {
			f := strings.Fields(l)
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	return 0
}

func result(answer uint64, kv ...interface{}) {
	s := "RESULT"
	for i := 0; i < len(kv); i += 2 {
		s += fmt.Sprintf(" %s=%v", kv[i], kv[i+1])
	}
	fmt.Printf("%s answer=%d\n", s, answer)
}

func nsPer(n uint64, d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(n) }

func cpuWork(iters uint64) uint64 {
	x := uint64(1)
	for i := uint64(0); i < iters; i++ {
		x = x*6364136223846793005 + (i | 1)
	}
	return x
}

func twoWorkers(iters uint64) (uint64, time.Duration) {
	t := time.Now()
	var wg sync.WaitGroup
	res := make([]uint64, 2)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) { defer wg.Done(); res[w] = cpuWork(iters) }(w)
	}
	wg.Wait()
	return res[0] + res[1], time.Since(t)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func nextSleep(x *uint64) time.Duration {
	*x = *x*6364136223846793005 + 1442695040888963407
	return time.Duration(1+(*x>>33)%10) * time.Millisecond
}

func between(x uint64) uint64 {
	for i := 0; i < 100; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

var sink atomic.Uint64

func main() {
	w, variant := os.Args[1], os.Args[2]
	switch w {
	case "entry":
		n := arg(3)
		pid := uintptr(os.Getpid())
		ok := uint64(0)
		t := time.Now()
		if variant == "pair" {
			// Syscall minus RawSyscall, rounds alternating; the median difference.
			const rounds = 100
			per := n / rounds
			diffs := make([]float64, 0, rounds)
			for r := 0; r < rounds; r++ {
				t0 := time.Now()
				for i := uint64(0); i < per; i++ {
					if r, _, _ := syscall.RawSyscall(syscall.SYS_GETPID, 0, 0, 0); r == pid {
						ok++
					}
				}
				raw := nsPer(per, time.Since(t0))
				t1 := time.Now()
				for i := uint64(0); i < per; i++ {
					if r, _, _ := syscall.Syscall(syscall.SYS_GETPID, 0, 0, 0); r == pid {
						ok++
					}
				}
				diffs = append(diffs, nsPer(per, time.Since(t1))-raw)
			}
			sort.Float64s(diffs)
			result(ok/2, "pair_ns", diffs[len(diffs)/2])
			break
		}
		if variant == "raw" {
			for i := uint64(0); i < n; i++ {
				if r, _, _ := syscall.RawSyscall(syscall.SYS_GETPID, 0, 0, 0); r == pid {
					ok++
				}
			}
		} else {
			for i := uint64(0); i < n; i++ {
				if r, _, _ := syscall.Syscall(syscall.SYS_GETPID, 0, 0, 0); r == pid {
					ok++
				}
			}
		}
		result(ok, "ns/call", nsPer(n, time.Since(t)))
	case "vdso":
		n := arg(3)
		ok := uint64(0)
		t := time.Now()
		last := time.Now()
		for i := uint64(0); i < n; i++ {
			now := time.Now()
			if now.Sub(last) >= 0 {
				ok++
			}
			last = now
		}
		result(ok, "ns/call", nsPer(n, time.Since(t)))
	case "handoff":
		iters := arg(3)
		_, alone := twoWorkers(iters)
		var sleeps atomic.Uint64
		var done atomic.Bool
		var peak atomic.Uint64
		go func() {
			runtime.LockOSThread()
			for !done.Load() {
				if v := uint64(status("Threads:")); v > peak.Load() {
					peak.Store(v)
				}
				time.Sleep(time.Millisecond)
			}
		}()
		var sw sync.WaitGroup
		for s := 0; s < 200; s++ {
			sw.Add(1)
			go func() {
				defer sw.Done()
				ts := syscall.Timespec{Nsec: 1_000_000}
				for !done.Load() {
					syscall.Nanosleep(&ts, nil)
					sleeps.Add(1)
				}
			}()
		}
		answer, work := twoWorkers(iters)
		done.Store(true)
		sw.Wait()
		result(answer, "slowdown", work.Seconds()/alone.Seconds(),
			"sleeps/s", float64(sleeps.Load())/work.Seconds(), "peak_threads", peak.Load()-1)
	case "short-syscalls":
		tasks, writes := int(arg(3)), int(arg(4))
		var total atomic.Uint64
		t := time.Now()
		var wg sync.WaitGroup
		for i := 0; i < tasks; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				fd, err := syscall.Open("/dev/null", syscall.O_WRONLY|syscall.O_CLOEXEC, 0)
				if err != nil {
					panic(err)
				}
				defer syscall.Close(fd)
				b := []byte{'x'}
				n := 0
				for j := 0; j < writes; j++ {
					k, _ := syscall.Write(fd, b)
					n += k
				}
				total.Add(uint64(n))
			}()
		}
		wg.Wait()
		result(total.Load(), "calls/s", float64(total.Load())/time.Since(t).Seconds())
	case "treewalk":
		root := os.Args[3]
		t := time.Now()
		var walk func(dir string) uint64
		walk = func(dir string) uint64 {
			entries, err := os.ReadDir(dir)
			if err != nil {
				panic(err)
			}
			var sum uint64
			var wg sync.WaitGroup
			var sub atomic.Uint64
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), ".complete") {
					continue
				}
				p := filepath.Join(dir, e.Name())
				fi, err := os.Lstat(p)
				if err != nil {
					panic(err)
				}
				if fi.IsDir() {
					wg.Add(1)
					go func() { defer wg.Done(); sub.Add(walk(p)) }()
				} else {
					sum += uint64(fi.Size())
				}
			}
			wg.Wait()
			return sum + sub.Load()
		}
		answer := walk(root)
		result(answer, "seconds", time.Since(t).Seconds())
	case "spawn":
		n := arg(3)
		t := time.Now()
		res := make([]uint64, n)
		var wg sync.WaitGroup
		wg.Add(int(n))
		for i := uint64(0); i < n; i++ {
			go func(i uint64) { res[i] = i; wg.Done() }(i)
		}
		wg.Wait()
		var sum uint64
		for _, v := range res {
			sum += v
		}
		result(sum, "seconds", time.Since(t).Seconds(), "peak_RSS_MiB", status("VmHWM:")/1024)
	case "alive":
		n := arg(3)
		base := status("VmRSS:")
		c := make(chan uint64)
		var started, done sync.WaitGroup
		started.Add(int(n))
		done.Add(int(n))
		var sum atomic.Uint64
		for i := uint64(0); i < n; i++ {
			go func() { started.Done(); sum.Add(<-c); done.Done() }()
		}
		started.Wait()
		for i := uint64(0); i < n; i++ {
			c <- i
		}
		done.Wait()
		peak := status("VmHWM:")
		result(sum.Load(), "alive", n, "peak_RSS_MiB", peak/1024, "KiB/goroutine", (peak-base)/float64(n))
	case "echo":
		conns, rounds := arg(3), arg(4)
		var peak atomic.Uint64
		stop := make(chan struct{})
		go func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if v := uint64(status("Threads:")); v > peak.Load() {
					peak.Store(v)
				}
				time.Sleep(time.Millisecond)
			}
		}()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		client := exec.Command(os.Args[0], "echo-client", "net",
			strconv.FormatUint(conns, 10), strconv.FormatUint(rounds, 10), l.Addr().String())
		client.Stderr = os.Stderr
		if err := client.Start(); err != nil {
			panic(err)
		}
		var total atomic.Uint64
		var wg sync.WaitGroup
		var t, last time.Time
		for i := uint64(0); i < conns; i++ {
			c, err := l.Accept()
			if err != nil {
				panic(err)
			}
			last = time.Now()
			if i == 0 {
				t = last
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				b := make([]byte, 64)
				for {
					if _, err := io.ReadFull(c, b); err != nil {
						return
					}
					if _, err := c.Write(b); err != nil {
						return
					}
					total.Add(64)
				}
			}()
		}
		wg.Wait()
		d := time.Since(t)
		close(stop)
		if err := client.Wait(); err != nil {
			panic(err)
		}
		result(total.Load()/64, "round_trips/s", float64(conns*rounds)/d.Seconds(),
			"accepting_s", last.Sub(t).Seconds(),
			"peak_threads", peak.Load(), "peak_RSS_MiB", status("VmHWM:")/1024)
	case "echo-client":
		conns, rounds, addr := arg(3), arg(4), os.Args[5]
		var wg sync.WaitGroup
		for i := uint64(0); i < conns; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := net.Dial("tcp", addr)
				if err != nil {
					panic(err)
				}
				b := make([]byte, 64)
				for r := uint64(0); r < rounds; r++ {
					if _, err := c.Write(b); err != nil {
						panic(err)
					}
					if _, err := io.ReadFull(c, b); err != nil {
						panic(err)
					}
				}
				c.Close()
			}()
		}
		wg.Wait()
	case "pingpong":
		n := arg(3)
		a, b := make(chan uint64), make(chan uint64)
		go func() {
			for v := range a {
				b <- v + 1
			}
		}()
		t := time.Now()
		x := uint64(0)
		for i := uint64(0); i < n; i++ {
			a <- x
			x = <-b
		}
		d := time.Since(t)
		close(a)
		result(x, "ns/round_trip", nsPer(n, d))
	case "retake":
		samples := int(arg(3))
		lat := make([]float64, 0, samples)
		for s := 0; s < samples; s++ {
			var p [2]int
			if err := syscall.Pipe(p[:]); err != nil {
				panic(err)
			}
			t0 := time.Now()
			var ran atomic.Int64
			entered := make(chan time.Duration)
			bdone := make(chan struct{})
			go func() {
				go func() { ran.Store(int64(time.Since(t0))); close(bdone) }()
				e := time.Since(t0)
				buf := make([]byte, 1)
				syscall.Read(p[0], buf)
				<-bdone
				entered <- e
			}()
			go func() {
				time.Sleep(200 * time.Millisecond)
				syscall.Write(p[1], []byte{'x'})
			}()
			e := <-entered
			lat = append(lat, float64(time.Duration(ran.Load())-e)/1e3)
			syscall.Close(p[0])
			syscall.Close(p[1])
		}
		sort.Float64s(lat)
		result(uint64(samples), "median_us", lat[len(lat)/2], "max_us", lat[len(lat)-1])
	case "sleep":
		samples, tasks, millis := int(arg(3)), arg(4), arg(5)
		late := make([]float64, 0, samples)
		for i := 0; i < samples; i++ {
			t := time.Now()
			time.Sleep(time.Millisecond)
			late = append(late, float64(time.Since(t)-time.Millisecond)/1e3)
		}
		var sleeps, done atomic.Uint64
		var stop atomic.Bool
		var wg sync.WaitGroup
		for i := uint64(0); i < tasks; i++ {
			wg.Add(1)
			go func(x uint64) {
				defer wg.Done()
				for {
					time.Sleep(nextSleep(&x))
					sleeps.Add(1)
					if stop.Load() {
						done.Add(1)
						return
					}
				}
			}(i)
		}
		t0, cpu0, n0 := time.Now(), cpuTime(), sleeps.Load()
		time.Sleep(time.Duration(millis) * time.Millisecond)
		n := float64(sleeps.Load() - n0)
		wall, cpu := time.Since(t0), cpuTime()-cpu0
		stop.Store(true)
		wg.Wait()
		sort.Float64s(late)
		p99 := len(late) * 99 / 100
		if p99 > len(late)-1 {
			p99 = len(late) - 1
		}
		result(uint64(samples)+done.Load(), "late_median_us", late[len(late)/2],
			"late_p99_us", late[p99], "sleeps/s", n/wall.Seconds(),
			"CPU_us/sleep", float64(cpu.Microseconds())/n)
	case "select":
		n := arg(3)
		c1, c2 := make(chan uint64), make(chan uint64)
		neverA, neverB := make(chan uint64), make(chan uint64)
		bdone := make(chan struct{})
		go func() {
			for i := uint64(0); i < n; i++ {
				select {
				case v := <-c1:
					c2 <- v + 1
				case <-neverB:
					panic("never fires")
				}
			}
			close(bdone)
		}()
		t := time.Now()
		x := uint64(0)
		for i := uint64(0); i < n; i++ {
			c1 <- x
			select {
			case x = <-c2:
			case <-neverA:
				panic("never fires")
			}
		}
		d := time.Since(t)
		<-bdone
		result(x, "ns/round_trip", nsPer(n, d))
	case "mutex":
		const tasks = 4
		per := arg(3) / tasks
		var mu sync.Mutex
		count := uint64(0)
		waits := make([]time.Duration, tasks)
		var wg sync.WaitGroup
		t := time.Now()
		for i := 0; i < tasks; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				x, worst := uint64(i), time.Duration(0)
				for j := uint64(0); j < per; j++ {
					x = between(x)
					t0 := time.Now()
					mu.Lock()
					if w := time.Since(t0); w > worst {
						worst = w
					}
					count++
					mu.Unlock()
				}
				sink.Add(x)
				waits[i] = worst
			}(i)
		}
		wg.Wait()
		d := time.Since(t)
		worst := time.Duration(0)
		for _, w := range waits {
			if w > worst {
				worst = w
			}
		}
		result(count, "M_locks/s", float64(count)/d.Seconds()/1e6, "max_wait_us", float64(worst)/1e3)
	default:
		fmt.Fprintln(os.Stderr, "unknown workload", w)
		os.Exit(2)
	}
}
