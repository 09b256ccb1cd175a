package containerd

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	ctrd "github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"

	"github.com/skiffnet/skiff/internal/nstest"
	"github.com/skiffnet/skiff/internal/ociimage"
	"github.com/skiffnet/skiff/node/containerd/registrytest"
)

// startTestDaemon runs a containerd for one test under a data dir named
// with the test's unique prefix, removed with everything it ran.
func startTestDaemon(t *testing.T, prefix string) *Daemon {
	t.Helper()
	dataDir, err := os.MkdirTemp("", prefix+"-ctrd-")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Start(context.Background(), Options{DataDir: dataDir})
	t.Cleanup(func() {
		if d != nil {
			_ = d.Stop(context.Background())
		}
		if out, _ := exec.Command("pgrep", "-f", dataDir).Output(); len(out) > 0 {
			for _, f := range strings.Fields(string(out)) {
				var pid int
				if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 && pid != os.Getpid() {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		_ = exec.Command("sh", "-c", "grep -o ' "+dataDir+"[^ ]*' /proc/self/mounts | sort -r | xargs -r -n1 umount -l").Run()
		_ = os.RemoveAll(dataDir)
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestPrivilegedPullFromRegistry(t *testing.T) {
	nstest.RequirePrivileged(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tp := nstest.New(t)
	d := startTestDaemon(t, tp.Prefix)
	client := d.Client()
	cctx := namespaces.WithNamespace(ctx, Namespace)

	reg := registrytest.Start(t, registrytest.WithBasicAuth("puller", "s3cret"))
	archive := testappArchive(t, buildTestapp(t), "v1")
	if err := reg.Push(archive, map[string]string{"docker.io/skiff/testapp:v1": "skiff/testapp:v1"}); err != nil {
		t.Fatal(err)
	}
	p, err := NewPuller(client, PullerOptions{ProgressInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ref := reg.Host + "/skiff/testapp:v1"

	// No credentials: refused, with what to do.
	_, err = p.Pull(ctx, ref, nil)
	var pe *PullError
	if !errors.As(err, &pe) || pe.Kind != PullUnauthorized || !strings.Contains(err.Error(), "imagePullSecrets") {
		t.Fatalf("pull without credentials: %v", err)
	}
	if _, err := client.GetImage(cctx, ref); err == nil {
		t.Fatal("a refused pull left an image behind")
	}

	// With credentials: pulled, stored under its full name and unpacked.
	creds := []Credential{{Registry: reg.Host, Username: "puller", Secret: "s3cret"}}
	img, err := p.Pull(ctx, ref, creds)
	if err != nil {
		t.Fatal(err)
	}
	if img.Name() != ref {
		t.Fatalf("pulled image named %q, want %q", img.Name(), ref)
	}
	got, err := client.GetImage(cctx, ref)
	if err != nil {
		t.Fatalf("GetImage after pull: %v", err)
	}
	if ok, err := got.IsUnpacked(cctx, DefaultSnapshotter); !ok || err != nil {
		t.Fatalf("pulled image not unpacked into %s: %v", DefaultSnapshotter, err)
	}
	// The pulled content is the pushed content: same manifest digest as
	// importing the archive gives.
	imported, err := Import(ctx, client, "skiff-import-check", strings.NewReader(string(archive)), "")
	if err != nil {
		t.Fatal(err)
	}
	if imported[0].Digest != got.Target().Digest {
		t.Fatalf("pulled digest %s, archive digest %s", got.Target().Digest, imported[0].Digest)
	}

	// A container runs from the pulled image: the testapp binary answers -h.
	id := tp.Prefix + "-pulled"
	container, err := client.NewContainer(cctx, id, ctrd.WithImage(got), d.RuntimeOpts(),
		ctrd.WithNewSnapshot(id, got), ctrd.WithNewSpec(oci.WithImageConfig(got), oci.WithProcessArgs("/testapp", "-h")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = container.Delete(namespaces.WithNamespace(context.Background(), Namespace), ctrd.WithSnapshotCleanup)
	})
	var out strings.Builder
	task, err := container.NewTask(cctx, cio.NewCreator(cio.WithStreams(nil, &out, &out)))
	if err != nil {
		t.Fatal(err)
	}
	exitCh, err := task.Wait(cctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(cctx); err != nil {
		t.Fatal(err)
	}
	select {
	case st := <-exitCh:
		if code, _, _ := st.Result(); code != 0 {
			t.Errorf("testapp -h exited %d", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("container from pulled image did not exit")
	}
	if io := task.IO(); io != nil {
		io.Wait()
	}
	if _, err := task.Delete(cctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "http-port") {
		t.Fatalf("container output lacks testapp usage:\n%s", out.String())
	}

	// Pulling again needs only the manifest; concurrent pulls share one.
	before := reg.ManifestRequests("skiff/testapp:v1")
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() { _, err := p.Pull(ctx, ref, creds); errs <- err }()
	}
	for i := 0; i < 3; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("repeated pull: %v", err)
		}
	}
	if n := reg.ManifestRequests("skiff/testapp:v1") - before; n < 1 || n > 6 {
		t.Errorf("3 concurrent re-pulls made %d manifest requests", n)
	}

	// A download that stops is abandoned with a clear error, not waited on
	// forever.
	big := make([]byte, 1<<20)
	_, _ = rand.Read(big)
	var bigArchive bytes.Buffer
	if err := ociimage.Write(&bigArchive, ociimage.Image{Name: "docker.io/skiff/big:v1",
		Layers: [][]ociimage.Entry{{{Path: "big.bin", Data: big}}}}); err != nil {
		t.Fatal(err)
	}
	if err := reg.Push(bigArchive.Bytes(), map[string]string{"docker.io/skiff/big:v1": "skiff/big:v1"}); err != nil {
		t.Fatal(err)
	}
	reg.StallBlobs(true)
	impatient, err := NewPuller(client, PullerOptions{StallTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	_, err = impatient.Pull(ctx, reg.Host+"/skiff/big:v1", creds)
	if !errors.As(err, &pe) || pe.Kind != PullStalled || !strings.Contains(err.Error(), "stalled") {
		t.Fatalf("stalled download: %v", err)
	}
	if took := time.Since(began); took > 30*time.Second {
		t.Errorf("stalled pull gave up only after %v", took)
	}
	reg.StallBlobs(false)

	// A missing tag and a dead registry are told apart, each with a hint.
	_, err = p.Pull(ctx, reg.Host+"/skiff/testapp:v404", creds)
	if !errors.As(err, &pe) || pe.Kind != PullNotFound || !strings.Contains(err.Error(), "skiff image import FILE.tar") {
		t.Fatalf("missing tag: %v", err)
	}
	reg.Close()
	_, err = p.Pull(ctx, ref, creds)
	if !errors.As(err, &pe) || pe.Kind != PullUnreachable || !strings.Contains(err.Error(), "no registry reachable") {
		t.Fatalf("dead registry: %v", err)
	}
	if _, err := client.GetImage(cctx, ref); err != nil {
		t.Fatalf("a failed re-pull removed the image: %v", err)
	}
}
