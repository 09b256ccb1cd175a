package main

import "github.com/skiffnet/skiff/control/kubelet"

// containerd's shim runs `skiff tty-log LOGFILE` as the logger of a
// container with tty: true (control/kubelet/tty.go).
func init() {
	register(kubelet.TTYLogCommand, "append a TTY container's output to its log (run by containerd's shim)", kubelet.RunTTYLogger)
}
