package kubelet

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The TTY logger speaks containerd's binary logging protocol: it runs this
// test binary the way the shim runs `skiff tty-log` (the init hook in
// attach_privileged_test.go), with output on fd 3, stderr on fd 4 and the
// readiness pipe on fd 5.
func TestTTYLoggerProtocol(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "logs", "app", "0.log")
	outR, outW, _ := os.Pipe()
	errR, errW, _ := os.Pipe()
	readyR, readyW, _ := os.Pipe()
	cmd := exec.Command(os.Args[0], TTYLogCommand, logFile)
	cmd.ExtraFiles = []*os.File{outR, errR, readyW}
	cmd.Env = []string{"CONTAINER_ID=x", "CONTAINER_NAMESPACE=skiff"} // all the shim passes
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	outR.Close()
	errR.Close()
	readyW.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Ready: the logger closes its end of the readiness pipe.
	ready := make(chan error, 1)
	go func() {
		_, err := readyR.Read(make([]byte, 1))
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != io.EOF {
			t.Fatalf("readiness pipe: %v, want EOF", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("logger never signalled readiness")
	}
	if _, err := io.WriteString(outW, "/ # echo hi\r\nhi\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(errW, "err-line\n"); err != nil {
		t.Fatal(err)
	}
	// The end of the terminal output ends the logger, even while the
	// shim still holds stderr open.
	outW.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("logger: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("logger did not exit at the end of its output")
	}
	errW.Close()
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "/ # echo hi\r\nhi\r\n") {
		t.Fatalf("log %q lacks the terminal output", b)
	}

	// Run by hand, without the shim's pipes, it refuses with a hint.
	if out, err := exec.Command(os.Args[0], TTYLogCommand, logFile).CombinedOutput(); err == nil || !strings.Contains(string(out), "not a pipe") {
		t.Fatalf("run without pipes: %v %s", err, out)
	}
}
