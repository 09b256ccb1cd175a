package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffnet/skiff/internal/nstest"
	"github.com/skiffnet/skiff/internal/ociimage"
	nodectrd "github.com/skiffnet/skiff/node/containerd"
)

func TestImageCommandRejectsBadUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"import"},
		{"import", "--namespace"},
		{"frobnicate"},
		{"ls", "extra.tar"},
	} {
		if err := runImage(args); err == nil {
			t.Errorf("skiff image %q succeeded", args)
		}
	}
	if err := runImage([]string{"import", filepath.Join(t.TempDir(), "missing.tar"), "--address", filepath.Join(t.TempDir(), "none.sock")}); err == nil || !strings.Contains(err.Error(), "no containerd") {
		t.Errorf("import with a dead --address: %v", err)
	}
}

func TestPrivilegedImageImportCommand(t *testing.T) {
	nstest.RequirePrivileged(t)
	dir, err := os.MkdirTemp("", nstest.UniquePrefix()+"-img-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = exec.Command("sh", "-c", "grep -o ' "+dir+"[^ ]*' /proc/self/mounts | sort -r | xargs -r -n1 umount -l").Run()
		os.RemoveAll(dir)
	})
	var buf bytes.Buffer
	err = ociimage.Write(&buf, ociimage.Image{
		Name:   "docker.io/skiff/cmdtest:v1",
		Layers: [][]ociimage.Entry{{{Path: "hello.txt", Data: []byte("hello\n")}}},
		Config: ociimage.Config{Cmd: []string{"/hello.txt"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "cmdtest.tar")
	if err := os.WriteFile(archive, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	// No containerd is running on data: the command starts a temporary one.
	if err := runImage([]string{"import", archive, "--data-dir", data}); err != nil {
		t.Fatal(err)
	}
	d, err := nodectrd.Start(context.Background(), nodectrd.Options{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop(context.Background())
	imgs, err := nodectrd.ListImages(context.Background(), d.Client(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 || imgs[0].Name != "docker.io/skiff/cmdtest:v1" {
		t.Fatalf("after skiff image import: %+v", imgs)
	}
	// With the daemon running, import talks to it (by --address) instead.
	if err := runImage([]string{"import", "--address", d.Socket(), archive}); err != nil {
		t.Fatal(err)
	}
	if err := runImage([]string{"ls", "--address", d.Socket()}); err != nil {
		t.Fatal(err)
	}
}
