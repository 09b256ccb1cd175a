package kubelet

import (
	"bufio"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"

	"github.com/skiffnet/skiff/internal/version"
)

// systemInfo is the Node's status.nodeInfo, read from the machine as the
// kubelet does (`kubectl get nodes -o wide` shows OS image, kernel and
// runtime).
func systemInfo() v1.NodeSystemInfo {
	info := v1.NodeSystemInfo{
		OperatingSystem: runtime.GOOS, Architecture: runtime.GOARCH,
		KubeletVersion:          version.Kubernetes,
		ContainerRuntimeVersion: "containerd://1.6",
		OSImage:                 osImage("/etc/os-release"),
		MachineID:               readTrim("/etc/machine-id"),
		BootID:                  readTrim("/proc/sys/kernel/random/boot_id"),
		SystemUUID:              readTrim("/sys/class/dmi/id/product_uuid"),
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		info.KernelVersion = unix.ByteSliceToString(u.Release[:])
	}
	return info
}

// osImage is PRETTY_NAME from an os-release file, or "Linux".
func osImage(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "Linux"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "PRETTY_NAME="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return "Linux"
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
