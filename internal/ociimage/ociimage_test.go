package ociimage

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sample(t *testing.T) []Image {
	t.Helper()
	src := filepath.Join(t.TempDir(), "app")
	if err := os.WriteFile(src, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	base := []Entry{
		{Path: "/bin/app", Source: src},
		{Path: "bin/sh", Type: Symlink, Linkname: "app"},
		{Path: "etc/hostname", Data: []byte("x\n")},
		{Path: "tmp", Type: Dir, Mode: 0o1777},
	}
	return []Image{
		{Name: "docker.io/skiff/testapp:v1", Layers: [][]Entry{base}, Config: Config{Entrypoint: []string{"/bin/app"}, Env: []string{"VERSION=v1"}, ExposedPorts: []string{"8080/tcp"}}},
		{Name: "docker.io/skiff/testapp:v2", Layers: [][]Entry{base, {{Path: "etc/version", Data: []byte("v2")}}}, Config: Config{Entrypoint: []string{"/bin/app"}, Env: []string{"VERSION=v2"}}},
	}
}

func TestWriteVerifyRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, sample(t)...); err != nil {
		t.Fatal(err)
	}
	infos, err := Verify(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("archive does not verify: %v", err)
	}
	if len(infos) != 2 {
		t.Fatalf("got %d images, want 2", len(infos))
	}
	v1, v2 := infos[0], infos[1]
	if v1.Name != "docker.io/skiff/testapp:v1" || v2.Name != "docker.io/skiff/testapp:v2" {
		t.Fatalf("names %q %q", v1.Name, v2.Name)
	}
	if v1.Manifest == v2.Manifest {
		t.Fatal("v1 and v2 share a manifest digest; the env difference was lost")
	}
	if got := v2.Config.Config.Env; len(got) != 1 || got[0] != "VERSION=v2" {
		t.Fatalf("v2 env %v", got)
	}
	app := v1.Files["bin/app"]
	if app == nil || app.Mode&0o777 != 0o755 || app.Typeflag != tar.TypeReg {
		t.Fatalf("bin/app header %+v", app)
	}
	if sh := v1.Files["bin/sh"]; sh == nil || sh.Typeflag != tar.TypeSymlink || sh.Linkname != "app" {
		t.Fatalf("bin/sh header %+v", sh)
	}
	if d := v1.Files["bin"]; d == nil || d.Typeflag != tar.TypeDir {
		t.Fatalf("implicit parent dir bin missing: %+v", d)
	}
	if tmp := v1.Files["tmp"]; tmp == nil || tmp.Mode != 0o1777 {
		t.Fatalf("tmp header %+v", tmp)
	}
	if _, ok := v2.Files["etc/version"]; !ok {
		t.Fatal("v2 second layer missing etc/version")
	}
	if _, ok := v1.Config.Config.ExposedPorts["8080/tcp"]; !ok {
		t.Fatalf("exposed ports %v", v1.Config.Config.ExposedPorts)
	}
}

func TestWriteIsReproducible(t *testing.T) {
	imgs := sample(t)
	var a, b bytes.Buffer
	if err := Write(&a, imgs...); err != nil {
		t.Fatal(err)
	}
	if err := Write(&b, imgs...); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two writes of the same images differ")
	}
}

func TestDockerManifestListsBlobs(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, sample(t)...); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&buf)
	var dm []dockerManifest
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "manifest.json" {
			if err := json.NewDecoder(tr).Decode(&dm); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(dm) != 2 || dm[0].RepoTags[0] != "skiff/testapp:v1" || len(dm[1].Layers) != 2 {
		t.Fatalf("manifest.json %+v", dm)
	}
}

// tamper rewrites the archive, changing one byte of the named blob.
func tamper(t *testing.T, archive []byte, match func(name string) bool) []byte {
	t.Helper()
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(bytes.NewReader(archive))
	done := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		if !done && h.Typeflag == tar.TypeReg && match(h.Name) {
			data = append([]byte(nil), data...)
			data[len(data)/2] ^= 0xff
			done = true
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
	}
	tw.Close()
	if !done {
		t.Fatal("nothing tampered")
	}
	return out.Bytes()
}

func TestVerifyDetectsCorruptBlob(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, sample(t)...); err != nil {
		t.Fatal(err)
	}
	bad := tamper(t, buf.Bytes(), func(n string) bool { return strings.HasPrefix(n, "blobs/sha256/") })
	if _, err := Verify(bytes.NewReader(bad)); err == nil {
		t.Fatal("Verify accepted an archive with a corrupted blob")
	}
}

func TestWriteRejectsBadInput(t *testing.T) {
	cases := map[string]Image{
		"no name":      {Layers: [][]Entry{{{Path: "a"}}}},
		"escaping":     {Name: "x:1", Layers: [][]Entry{{{Path: "../etc/passwd"}}}},
		"dup":          {Name: "x:1", Layers: [][]Entry{{{Path: "a"}, {Path: "/a"}}}},
		"empty link":   {Name: "x:1", Layers: [][]Entry{{{Path: "a", Type: Symlink}}}},
		"missing file": {Name: "x:1", Layers: [][]Entry{{{Path: "a", Source: "/nonexistent/skiff"}}}},
	}
	for name, img := range cases {
		if err := Write(io.Discard, img); err == nil {
			t.Errorf("%s: Write accepted it", name)
		}
	}
}

func TestRefName(t *testing.T) {
	for in, want := range map[string]string{
		"docker.io/skiff/testapp:v1": "v1",
		"localhost:5000/app":         "latest",
		"a/b@sha256:abc":             "sha256:abc",
	} {
		if got := refName(in); got != want {
			t.Errorf("refName(%q)=%q want %q", in, got, want)
		}
	}
}
