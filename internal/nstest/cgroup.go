package nstest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Cgroup makes the cgroup v2 directory root/<tp.Prefix>-<name> and returns
// its path and an open descriptor for SysProcAttr.CgroupFD. When the test
// ends, whatever still runs in it is killed and the directory removed; a
// directory that cannot be removed fails the test.
func (tp *Topo) Cgroup(t testing.TB, root, name string) (string, int) {
	t.Helper()
	cg := filepath.Join(root, tp.Prefix+"-"+name)
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeCgroup(t, cg) })
	f, err := os.Open(cg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return cg, int(f.Fd())
}

// removeCgroup kills what is left in the test cgroup and removes it.
func removeCgroup(t testing.TB, cg string) {
	for i := 0; i < 50; i++ {
		b, _ := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
		for _, f := range strings.Fields(string(b)) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if err := os.Remove(cg); err == nil || os.IsNotExist(err) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("test cgroup %s could not be removed: remove it with rmdir", cg)
}
