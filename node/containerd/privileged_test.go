package containerd

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	ctrd "github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/skiffnet/skiff/internal/nstest"
	"github.com/skiffnet/skiff/internal/ociimage"
)

// buildTestapp compiles the static testapp once per test binary.
func buildTestapp(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "testapp")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/skiffnet/skiff/test/images/testapp")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build testapp: %v\n%s", err, out)
	}
	return bin
}

// testappArchive packs bin as docker.io/skiff/testapp:<tag>.
func testappArchive(t *testing.T, bin, tag string) []byte {
	t.Helper()
	var buf bytes.Buffer
	err := ociimage.Write(&buf, ociimage.Image{
		Name:   "docker.io/skiff/testapp:" + tag,
		Layers: [][]ociimage.Entry{{{Path: "testapp", Source: bin, Mode: 0o755}, {Path: "tmp", Type: ociimage.Dir, Mode: 0o777}}},
		Config: ociimage.Config{Entrypoint: []string{"/testapp"}, Env: []string{"VERSION=" + tag}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// dockerOnly strips the OCI layout files, leaving a docker-archive
// (manifest.json plus blobs) like `docker save` writes.
func dockerOnly(t *testing.T, archive []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "oci-layout" || h.Name == "index.json" {
			continue
		}
		data, _ := io.ReadAll(tr)
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
	}
	tw.Close()
	return out.Bytes()
}

func TestPrivilegedContainerdRunsTestappInNetns(t *testing.T) {
	nstest.RequirePrivileged(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tp := nstest.New(t)
	pod, err := tp.NS("pod")
	if err != nil {
		t.Fatal(err)
	}
	bin := buildTestapp(t)
	archive := testappArchive(t, bin, "v1")

	dataDir, err := os.MkdirTemp("", tp.Prefix+"-ctrd-")
	if err != nil {
		t.Fatal(err)
	}
	var d *Daemon
	t.Cleanup(func() {
		if d != nil {
			_ = d.Stop(context.Background())
		}
		// On failure, shims and containers may outlive the daemon: kill
		// every process whose command line names our data dir, by pid.
		if out, _ := exec.Command("pgrep", "-f", dataDir).Output(); len(out) > 0 {
			for _, f := range strings.Fields(string(out)) {
				var pid int
				if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 && pid != os.Getpid() {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		// Unmount anything left under the data dir before removing it.
		_ = exec.Command("sh", "-c", "grep -o ' "+dataDir+"[^ ]*' /proc/self/mounts | sort -r | xargs -r -n1 umount -l").Run()
		_ = os.RemoveAll(dataDir)
	})

	d, err = Start(ctx, Options{DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	client := d.Client()
	cctx := namespaces.WithNamespace(ctx, Namespace)

	imported, err := Import(ctx, client, Namespace, bytes.NewReader(archive), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(imported) != 1 || imported[0].Name != "docker.io/skiff/testapp:v1" {
		t.Fatalf("imported %+v", imported)
	}
	// A docker-archive (no OCI layout files) imports too.
	imported, err = Import(ctx, client, Namespace, bytes.NewReader(dockerOnly(t, testappArchive(t, bin, "docker"))), "")
	if err != nil {
		t.Fatalf("docker-archive import: %v", err)
	}
	if len(imported) != 1 || imported[0].Name != "docker.io/skiff/testapp:docker" {
		t.Fatalf("docker-archive imported %+v", imported)
	}
	list, err := ListImages(ctx, client, "")
	if err != nil || len(list) != 2 || list[0].Size == 0 || list[1].Name != "docker.io/skiff/testapp:v1" {
		t.Fatalf("ListImages: %+v %v", list, err)
	}
	if _, err := Import(ctx, client, Namespace, strings.NewReader("not a tar"), ""); err == nil {
		t.Fatal("garbage imported without error")
	}

	img, err := client.GetImage(cctx, "docker.io/skiff/testapp:v1")
	if err != nil {
		t.Fatal(err)
	}
	id := tp.Prefix + "-app"
	netnsPath := "/run/netns/" + pod.Name
	container, err := client.NewContainer(cctx, id,
		ctrd.WithImage(img),
		d.RuntimeOpts(),
		ctrd.WithNewSnapshot(id+"-rootfs", img),
		ctrd.WithNewSpec(
			oci.WithImageConfig(img),
			oci.WithHostname("skiff-test-pod"),
			oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: netnsPath}),
		),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = container.Delete(namespaces.WithNamespace(context.Background(), Namespace), ctrd.WithSnapshotCleanup)
	})
	logPath := filepath.Join(dataDir, "app.log")
	task, err := container.NewTask(cctx, cio.LogFile(logPath))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c := namespaces.WithNamespace(context.Background(), Namespace)
		_ = task.Kill(c, syscall.SIGKILL)
		if ch, err := task.Wait(c); err == nil {
			select {
			case <-ch:
			case <-time.After(10 * time.Second):
			}
		}
		_, _ = task.Delete(c)
	})
	if err := task.Start(cctx); err != nil {
		t.Fatal(err)
	}

	curl := func() string {
		t.Helper()
		var out string
		var err error
		for i := 0; i < 100; i++ {
			out, err = pod.Run("curl", "-sf", "--max-time", "2", "http://127.0.0.1:8080/hostname")
			if err == nil {
				return out
			}
			time.Sleep(100 * time.Millisecond)
		}
		logs, _ := os.ReadFile(logPath)
		t.Fatalf("testapp in netns %s never answered: %v\ncontainer log:\n%s", pod.Name, err, logs)
		return ""
	}
	if got := curl(); got != "skiff-test-pod" {
		t.Fatalf("/hostname = %q, want skiff-test-pod", got)
	}
	// The app listens only in the pod's namespace, not the host's.
	if out, err := exec.Command("curl", "-sf", "--max-time", "1", "http://127.0.0.1:8080/hostname").Output(); err == nil && string(out) == "skiff-test-pod" {
		t.Fatal("testapp answered in the host network namespace")
	}

	// Supervision: kill -9 containerd; it comes back, the container keeps
	// serving, and the client works again.
	oldPID := d.PID()
	if err := syscall.Kill(oldPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for d.Restarts() == 0 || d.PID() == oldPID {
		if time.Now().After(deadline) {
			t.Fatal("containerd was not restarted within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := curl(); got != "skiff-test-pod" {
		t.Fatalf("after containerd restart /hostname = %q", got)
	}
	var st ctrd.Status
	for i := 0; i < 100; i++ {
		if st, err = task.Status(cctx); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil || st.Status != ctrd.Running {
		t.Fatalf("task after restart: %+v %v", st, err)
	}

	// Re-adoption: a second Start on the same data dir (an agent restart)
	// adopts the running daemon instead of starting another.
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	running := d.PID()
	d, err = Start(ctx, Options{DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	if d.PID() != running {
		t.Fatalf("second Start ran a new containerd (pid %d) instead of adopting %d", d.PID(), running)
	}
	client = d.Client()
	if _, err := client.GetImage(cctx, "docker.io/skiff/testapp:v1"); err != nil {
		t.Fatalf("adopted daemon lost the image: %v", err)
	}
	// The old client is closed: reload the container and task through the new one.
	if container, err = client.LoadContainer(cctx, id); err != nil {
		t.Fatal(err)
	}
	if task, err = container.Task(cctx, nil); err != nil {
		t.Fatal(err)
	}

	// Clean up in order and check nothing is left running.
	if err := task.Kill(cctx, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ch, err := task.Wait(cctx)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("testapp did not exit on SIGTERM")
	}
	if _, err := task.Delete(cctx); err != nil {
		t.Fatal(err)
	}
	if err := container.Delete(cctx, ctrd.WithSnapshotCleanup); err != nil {
		t.Fatal(err)
	}
	pid := d.PID()
	if err := d.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	d = nil
	if processAlive(pid) {
		t.Fatalf("containerd pid %d still alive after Stop", pid)
	}
	if out, _ := exec.Command("pgrep", "-f", dataDir).Output(); strings.TrimSpace(string(out)) != "" {
		t.Fatalf("processes still reference %s: %s", dataDir, out)
	}
	if _, err := os.Stat("/run/containerd/runc/" + Namespace + "/" + id); err == nil {
		t.Fatal("runc state went to the system-wide /run/containerd/runc")
	}
}
