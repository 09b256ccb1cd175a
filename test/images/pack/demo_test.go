package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/skiffnet/skiff/internal/ociimage"
)

func fakeBinary(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte("#!/bin/true "+name), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// demo.tar holds the three tutorial images, verifies, and is a docker
// archive whose manifest names all three tags.
func TestDemoArchive(t *testing.T) {
	base := []ociimage.Entry{{Path: "bin/busybox", Data: []byte("busybox"), Mode: 0o755}}
	imgs, err := demoImages(base, demoBinaries{
		mysql: fakeBinary(t, "mysqld"), blogV1: fakeBinary(t, "blog-v1"), blogV2: fakeBinary(t, "blog-v2"),
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := ociimage.Write(&buf, imgs...); err != nil {
		t.Fatal(err)
	}
	infos, err := ociimage.Verify(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("archive does not verify: %v", err)
	}
	var names []string
	for _, in := range infos {
		names = append(names, in.Name)
	}
	want := []string{"docker.io/skiff/mysql:v1", "docker.io/skiff/blog:v1", "docker.io/skiff/blog:v2"}
	for _, w := range want {
		if !slices.Contains(names, w) {
			t.Errorf("archive lacks %s (has %v)", w, names)
		}
	}

	var manifest []struct{ RepoTags []string }
	tr := tar.NewReader(bytes.NewReader(buf.Bytes()))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "manifest.json" {
			if err := json.NewDecoder(tr).Decode(&manifest); err != nil {
				t.Fatal(err)
			}
		}
	}
	var tags []string
	for _, m := range manifest {
		tags = append(tags, m.RepoTags...)
	}
	if got := strings.Join(tags, ","); got != "skiff/mysql:v1,skiff/blog:v1,skiff/blog:v2" {
		t.Errorf("docker manifest tags = %s", got)
	}

	for _, im := range imgs {
		switch {
		case strings.Contains(im.Name, "/mysql:"):
			if !slices.Equal(im.Config.Entrypoint, []string{"/usr/sbin/mysqld"}) || !slices.Equal(im.Config.ExposedPorts, []string{"3306/tcp"}) {
				t.Errorf("mysql config %+v", im.Config)
			}
		default:
			if !slices.Equal(im.Config.Entrypoint, []string{"/blog"}) || !slices.Equal(im.Config.ExposedPorts, []string{"8080/tcp"}) {
				t.Errorf("blog config %+v", im.Config)
			}
		}
	}
}

func TestDemoNeedsAllBinaries(t *testing.T) {
	_, err := demoImages(nil, demoBinaries{mysql: fakeBinary(t, "mysqld")})
	if err == nil || !strings.Contains(err.Error(), "--blog-v") {
		t.Fatalf("err = %v, want a missing --blog-v1/--blog-v2 error", err)
	}
	_, err = demoImages(nil, demoBinaries{mysql: "/nonexistent/mysqld", blogV1: fakeBinary(t, "a"), blogV2: fakeBinary(t, "b")})
	if err == nil || !strings.Contains(err.Error(), "--mysql") {
		t.Fatalf("err = %v, want a missing --mysql file error", err)
	}
}
