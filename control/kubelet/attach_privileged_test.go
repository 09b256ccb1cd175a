package kubelet

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ctrd "github.com/containerd/containerd"
	"github.com/containerd/containerd/oci"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/skiffnet/skiff/internal/nstest"
)

// The containerd shim runs this test binary as the TTY logger of
// containers with tty: true (ttyLogBinary is os.Executable), as it runs
// `skiff tty-log` for the agent.
func init() {
	if len(os.Args) == 3 && os.Args[1] == TTYLogCommand {
		if err := RunTTYLogger(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

// The IO taskIO gives containers with spec.stdin: output to the log file
// and a stdin FIFO that openStdin writes to, which stays open across
// writers until CloseIO.
func TestPrivilegedStdinLogIO(t *testing.T) {
	nstest.RequirePrivileged(t)
	ctx := context.Background()
	env := newKubeletEnv(t, fake.NewSimpleClientset())
	cl := env.cfg.Containerd
	image, err := cl.GetImage(ctx, "docker.io/skiff/testapp:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := image.Unpack(ctx, "overlayfs"); err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("%s-stdin", env.prefix)
	ctr, err := cl.NewContainer(ctx, id, ctrd.WithImage(image), ctrd.WithSnapshotter("overlayfs"),
		ctrd.WithNewSnapshot(id, image), env.cfg.RuntimeOpts,
		ctrd.WithNewSpec(oci.WithImageConfig(image), oci.WithProcessArgs("/bin/sh", "-c",
			`while read line; do echo "got $line"; done; echo "stdin closed"`)))
	if err != nil {
		t.Fatal(err)
	}
	defer removeContainer(context.Background(), ctr)
	dir := t.TempDir()
	fifo, logFile := filepath.Join(dir, "stdin", "app", "0"), filepath.Join(dir, "logs", "0.log")
	task, err := ctr.NewTask(ctx, stdinLogIO(fifo, logFile))
	if err != nil {
		t.Fatal(err)
	}
	exitCh, err := task.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// Two attach sessions one after the other: the first writer's close is
	// not the container's EOF.
	for _, word := range []string{"one", "two"} {
		f, err := openStdin(fifo)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(f, word+"\n"); err != nil {
			t.Fatal(err)
		}
		f.Close()
		waitLog(t, logFile, "got "+word+"\n")
	}
	if err := task.CloseIO(ctx, ctrd.WithStdinCloser); err != nil {
		t.Fatal(err)
	}
	select {
	case st := <-exitCh:
		if code, _, _ := st.Result(); code != 0 {
			t.Fatalf("exit code %d", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("container did not see EOF after CloseIO")
	}
	waitLog(t, logFile, "got one\ngot two\nstdin closed\n")
	if _, err := task.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	// Without a shim reading, attaching to stdin fails at once.
	if _, err := openStdin(fifo); err == nil {
		t.Fatal("openStdin succeeded with no reader")
	}
}

func waitLog(t *testing.T, path, want string) {
	t.Helper()
	var got []byte
	if !waitFor(context.Background(), 10*time.Second, 50*time.Millisecond, func() bool {
		got, _ = os.ReadFile(path)
		return strings.Contains(string(got), want)
	}) {
		t.Fatalf("log %s: %q, want %q", path, got, want)
	}
}

// The IO ttyIO gives containers with spec.tty: a terminal whose output the
// shim hands to the TTY logger (this test binary), input from the stdin
// FIFO, a resizable console; CloseIO hangs the terminal up.
func TestPrivilegedTTYIO(t *testing.T) {
	nstest.RequirePrivileged(t)
	ctx := context.Background()
	env := newKubeletEnv(t, fake.NewSimpleClientset())
	cl := env.cfg.Containerd
	image, err := cl.GetImage(ctx, "docker.io/skiff/testapp:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := image.Unpack(ctx, "overlayfs"); err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("%s-tty", env.prefix)
	ctr, err := cl.NewContainer(ctx, id, ctrd.WithImage(image), ctrd.WithSnapshotter("overlayfs"),
		ctrd.WithNewSnapshot(id, image), env.cfg.RuntimeOpts,
		ctrd.WithNewSpec(oci.WithImageConfig(image), oci.WithProcessArgs("/bin/sh"), withTTY))
	if err != nil {
		t.Fatal(err)
	}
	defer removeContainer(context.Background(), ctr)
	dir := t.TempDir()
	fifo, logFile := filepath.Join(dir, "stdin", "app", "0"), filepath.Join(dir, "logs", "0.log")
	task, err := ctr.NewTask(ctx, ttyIO(fifo, logFile))
	if err != nil {
		t.Fatal(err)
	}
	exitCh, err := task.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitLog(t, logFile, "# ") // the shell's prompt, with nobody attached
	if err := task.Resize(ctx, 101, 33); err != nil {
		t.Fatal(err)
	}
	f, err := openStdin(fifo)
	if err != nil {
		t.Fatal(err)
	}
	// The terminal echoes the line as typed; only the shell prints "hi-3".
	if _, err := io.WriteString(f, "stty size; echo hi-$((1+2)) $TERM\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	waitLog(t, logFile, "33 101\r\nhi-3 xterm\r\n")
	if err := task.CloseIO(ctx, ctrd.WithStdinCloser); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exitCh:
	case <-time.After(20 * time.Second):
		t.Fatal("shell did not end after its terminal's input was closed")
	}
	if _, err := task.Delete(ctx); err != nil {
		t.Fatal(err)
	}
}
