package benchproc

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of /proc/stat's counters (USER_HZ, 100 on Linux).
const userHZ = 100

// MachineCPU returns the CPU time the whole machine has spent busy (user,
// nice, system, irq and softirq of all CPUs; idle, iowait and steal not
// counted) since boot. The difference of two readings is what a burst of
// work cost, whichever process did it.
func MachineCPU() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return parseProcStatBusy(string(b))
}

func parseProcStatBusy(stat string) (time.Duration, error) {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: first line %q is not the cpu total", line)
	}
	var busy int64
	for _, i := range []int{1, 2, 3, 6, 7} { // user nice system irq softirq
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		busy += n
	}
	return time.Duration(busy) * time.Second / userHZ, nil
}

// ProcessCPU returns the CPU time process pid has used (user and system,
// its own threads only, not its children's).
func ProcessCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseProcPidStatCPU(string(b))
}

func parseProcPidStatCPU(stat string) (time.Duration, error) {
	// The command name in parentheses may hold spaces: fields count from
	// its closing parenthesis. utime and stime are fields 14 and 15.
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/PID/stat: no command name in %q", stat)
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/PID/stat: %d fields after the command name, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/PID/stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// WaitIdle waits until the machine's CPUs are at least 90% idle over half a
// second, or until max has passed or ctx ends.
func WaitIdle(ctx context.Context, max time.Duration) {
	const window = 500 * time.Millisecond
	limit := time.Duration(runtime.NumCPU()) * window / 10
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		before, err := MachineCPU()
		if err != nil {
			return
		}
		time.Sleep(window)
		after, err := MachineCPU()
		if err != nil || after-before < limit {
			return
		}
	}
}
