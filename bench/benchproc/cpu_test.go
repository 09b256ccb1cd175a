package benchproc

import (
	"os"
	"testing"
	"time"
)

func TestParseProcStatBusy(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	got, err := parseProcStatBusy("cpu  1000 20 300 99999 55 4 6 777 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n")
	if err != nil || got != 13300*time.Millisecond {
		t.Fatalf("busy = %v, %v; want 13.3s (user+nice+system+irq+softirq)", got, err)
	}
	if _, err := parseProcStatBusy("intr 1 2 3\n"); err == nil {
		t.Fatal("a /proc/stat without the cpu line parsed")
	}
	if _, err := parseProcStatBusy("cpu  1 2 x 4 5 6 7 8\n"); err == nil {
		t.Fatal("a non-numeric counter parsed")
	}
	if d, err := MachineCPU(); err != nil || d <= 0 {
		t.Fatalf("MachineCPU = %v, %v", d, err)
	}
}

func TestParseProcPidStatCPU(t *testing.T) {
	stat := "4242 (skiff agent) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 7 8 20 0 12 0 999 0 0\n"
	if got, err := parseProcPidStatCPU(stat); err != nil || got != 3*time.Second {
		t.Fatalf("cpu = %v, %v; want 3s (utime 250 + stime 50 ticks, children's 7 and 8 not counted)", got, err)
	}
	if _, err := parseProcPidStatCPU("4242 skiff S 1"); err == nil {
		t.Fatal("a stat line without a command name parsed")
	}
	if d, err := ProcessCPU(os.Getpid()); err != nil || d < 0 {
		t.Fatalf("ProcessCPU(self) = %v, %v", d, err)
	}
}
