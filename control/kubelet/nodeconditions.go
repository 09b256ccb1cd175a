package kubelet

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Pressure thresholds: the kubelet's default hard eviction thresholds
// (memory.available<100Mi, nodefs.available<10%, nodefs.inodesFree<5%), and
// fewer than 5% of pid_max left for PIDs. Skiff reports the conditions; it
// does not evict pods.
const (
	memoryPressureBelow   = 100 << 20
	diskPressureFreeBelow = 0.10
	diskPressureInodes    = 0.05
	pidPressureFreeBelow  = 0.05
)

// nodeReadings are what the pressure conditions are computed from; a
// reading that could not be taken is -1 and gives no pressure.
type nodeReadings struct {
	memAvailable        int64   // bytes (MemAvailable)
	diskFree, inodeFree float64 // fractions of the data dir's file system
	pidFree             float64 // fraction of pid_max not in use
}

// readNode takes the readings for the data dir's file system.
func readNode(dataDir string) nodeReadings {
	r := nodeReadings{memAvailable: -1, diskFree: -1, inodeFree: -1, pidFree: -1}
	if kb, err := meminfoKB("MemAvailable"); err == nil {
		r.memAvailable = kb << 10
	}
	if dataDir != "" {
		var st unix.Statfs_t
		if unix.Statfs(dataDir, &st) == nil && st.Blocks > 0 {
			r.diskFree = float64(st.Bavail) / float64(st.Blocks)
			if st.Files > 0 {
				r.inodeFree = float64(st.Ffree) / float64(st.Files)
			}
		}
	}
	max, err1 := readInt("/proc/sys/kernel/pid_max")
	tasks, err2 := loadavgTasks()
	if err1 == nil && err2 == nil && max > 0 {
		r.pidFree = float64(max-tasks) / float64(max)
	}
	return r
}

// meminfoKB reads one field of /proc/meminfo (in KiB).
func meminfoKB(key string) (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == key+":" {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/meminfo has no %s", key)
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// loadavgTasks is the number of tasks (threads) on the machine, the
// fourth field of /proc/loadavg ("running/total").
func loadavgTasks() (int64, error) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) < 4 {
		return 0, fmt.Errorf("/proc/loadavg: unexpected %q", b)
	}
	_, total, ok := strings.Cut(f[3], "/")
	if !ok {
		return 0, fmt.Errorf("/proc/loadavg: unexpected %q", b)
	}
	return strconv.ParseInt(total, 10, 64)
}

// setConditions writes the node's MemoryPressure, DiskPressure,
// PIDPressure and Ready conditions as the kubelet reports them: the
// heartbeat time is now, the transition time moves only when a status
// changes.
func setConditions(node *v1.Node, now time.Time, r nodeReadings) {
	type cond struct {
		t                 v1.NodeConditionType
		bad               bool
		okReason, okMsg   string
		badReason, badMsg string
	}
	conds := []cond{
		{t: v1.NodeMemoryPressure, bad: r.memAvailable >= 0 && r.memAvailable < memoryPressureBelow,
			okReason: "KubeletHasSufficientMemory", okMsg: "kubelet has sufficient memory available",
			badReason: "KubeletHasInsufficientMemory", badMsg: "kubelet has insufficient memory available"},
		{t: v1.NodeDiskPressure, bad: r.diskFree >= 0 && r.diskFree < diskPressureFreeBelow || r.inodeFree >= 0 && r.inodeFree < diskPressureInodes,
			okReason: "KubeletHasNoDiskPressure", okMsg: "kubelet has no disk pressure",
			badReason: "KubeletHasDiskPressure", badMsg: "kubelet has disk pressure"},
		{t: v1.NodePIDPressure, bad: r.pidFree >= 0 && r.pidFree < pidPressureFreeBelow,
			okReason: "KubeletHasSufficientPID", okMsg: "kubelet has sufficient PID available",
			badReason: "KubeletHasInsufficientPID", badMsg: "kubelet has insufficient PID available"},
	}
	for _, c := range conds {
		nc := v1.NodeCondition{Type: c.t, Status: v1.ConditionFalse, Reason: c.okReason, Message: c.okMsg}
		if c.bad {
			nc.Status, nc.Reason, nc.Message = v1.ConditionTrue, c.badReason, c.badMsg
		}
		putCondition(node, nc, now)
	}
	putCondition(node, v1.NodeCondition{Type: v1.NodeReady, Status: v1.ConditionTrue, Reason: "KubeletReady",
		Message: "skiff agent is posting ready status"}, now)
}

// putCondition sets c (heartbeat now) in node's conditions, keeping the
// transition time of an unchanged status.
func putCondition(node *v1.Node, c v1.NodeCondition, now time.Time) {
	c.LastHeartbeatTime, c.LastTransitionTime = metav1.NewTime(now), metav1.NewTime(now)
	for i, old := range node.Status.Conditions {
		if old.Type == c.Type {
			if old.Status == c.Status {
				c.LastTransitionTime = old.LastTransitionTime
			}
			node.Status.Conditions[i] = c
			return
		}
	}
	node.Status.Conditions = append(node.Status.Conditions, c)
}
