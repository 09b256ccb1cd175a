// Command pack writes Skiff's test image archives with internal/ociimage.
// test/images/build.sh runs it after building the static testapp binary.
//
// Output (in --out):
//
//	testapp.tar  docker.io/skiff/testapp:v1 and :v2 (same binary, VERSION differs)
//	shell.tar    docker.io/skiff/shell:v1 (busybox-static with its applet links)
//	demo.tar     docker.io/skiff/mysql:v1, docker.io/skiff/blog:v1 and :v2, only
//	             with --mysql, --blog-v1 and --blog-v2 (see demo.go)
//
// Both images share one base layer: busybox plus /etc/passwd, /etc/group,
// /etc/nsswitch.conf and a sticky /tmp, so exec probes and `kubectl exec`
// find a shell in the testapp image too.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/skiffnet/skiff/internal/ociimage"
)

func main() {
	testapp := flag.String("testapp", "", "static testapp binary")
	busybox := flag.String("busybox", "/bin/busybox", "static busybox binary (Debian busybox-static)")
	out := flag.String("out", "test/images/out", "output directory")
	var demo demoBinaries
	flag.StringVar(&demo.mysql, "mysql", "", "static demo database binary (test/images/demo/mysql); with --blog-v1 and --blog-v2 writes demo.tar")
	flag.StringVar(&demo.blogV1, "blog-v1", "", "static demo blog binary built with -X main.version=v1")
	flag.StringVar(&demo.blogV2, "blog-v2", "", "static demo blog binary built with -X main.version=v2")
	flag.Parse()
	if err := run(*testapp, *busybox, *out, demo); err != nil {
		log.Fatalf("pack: %v", err)
	}
}

func run(testapp, busybox, out string, demo demoBinaries) error {
	if testapp == "" {
		return fmt.Errorf("--testapp is required (build it with CGO_ENABLED=0 go build ./test/images/testapp)")
	}
	if err := checkStatic(busybox); err != nil {
		return err
	}
	applets, err := busyboxApplets(busybox)
	if err != nil {
		return err
	}
	base := []ociimage.Entry{
		{Path: "bin/busybox", Source: busybox, Mode: 0o755},
		{Path: "tmp", Type: ociimage.Dir, Mode: 0o777 | 0o1000},
		{Path: "etc/passwd", Data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		{Path: "etc/group", Data: []byte("root:x:0:\nnogroup:x:65534:\n")},
		{Path: "etc/nsswitch.conf", Data: []byte("hosts: files dns\n")},
		{Path: "root", Type: ociimage.Dir, Mode: 0o700},
	}
	for _, a := range applets {
		if a == "busybox" {
			continue
		}
		base = append(base, ociimage.Entry{Path: "bin/" + a, Type: ociimage.Symlink, Linkname: "busybox"})
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	var imgs []ociimage.Image
	for _, v := range []string{"v1", "v2"} {
		imgs = append(imgs, ociimage.Image{
			Name: "docker.io/skiff/testapp:" + v,
			Layers: [][]ociimage.Entry{base, {
				{Path: "testapp", Source: testapp, Mode: 0o755},
			}},
			Config: ociimage.Config{
				Entrypoint:   []string{"/testapp"},
				Env:          []string{"PATH=/bin", "VERSION=" + v},
				Labels:       map[string]string{"org.opencontainers.image.version": v, "org.opencontainers.image.title": "skiff testapp"},
				ExposedPorts: []string{"8080/tcp", "8081/udp"},
			},
		})
	}
	if err := writeArchive(filepath.Join(out, "testapp.tar"), imgs...); err != nil {
		return err
	}
	shell := ociimage.Image{
		Name:   "docker.io/skiff/shell:v1",
		Layers: [][]ociimage.Entry{base},
		Config: ociimage.Config{
			Cmd:    []string{"/bin/sh"},
			Env:    []string{"PATH=/bin"},
			Labels: map[string]string{"org.opencontainers.image.version": "v1", "org.opencontainers.image.title": "skiff shell"},
		},
	}
	if err := writeArchive(filepath.Join(out, "shell.tar"), shell); err != nil {
		return err
	}
	if demo == (demoBinaries{}) {
		return nil
	}
	imgs, err = demoImages(base, demo)
	if err != nil {
		return err
	}
	return writeArchive(filepath.Join(out, "demo.tar"), imgs...)
}

func writeArchive(path string, imgs ...ociimage.Image) error {
	var buf bytes.Buffer
	if err := ociimage.Write(&buf, imgs...); err != nil {
		return err
	}
	if _, err := ociimage.Verify(bytes.NewReader(buf.Bytes())); err != nil {
		return fmt.Errorf("%s does not verify: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	names := make([]string, len(imgs))
	for i, im := range imgs {
		names[i] = im.Name
	}
	fmt.Printf("wrote %s (%d bytes): %s\n", path, buf.Len(), strings.Join(names, ", "))
	return nil
}

// checkStatic refuses a dynamically linked busybox: it would not run in an
// image without a libc.
func checkStatic(bin string) error {
	out, err := exec.Command("file", "-L", bin).Output()
	if err != nil {
		// No file(1): fall back to looking for an ELF interpreter string.
		data, rerr := os.ReadFile(bin)
		if rerr != nil {
			return fmt.Errorf("read %s: %w (install busybox-static)", bin, rerr)
		}
		if bytes.Contains(data[:min(len(data), 4096)], []byte("/lib64/ld-linux")) {
			return fmt.Errorf("%s is dynamically linked; install busybox-static", bin)
		}
		return nil
	}
	if !bytes.Contains(out, []byte("statically linked")) && !bytes.Contains(out, []byte("static-pie")) {
		return fmt.Errorf("%s is not static (%s); install busybox-static", bin, bytes.TrimSpace(out))
	}
	return nil
}

func busyboxApplets(bin string) ([]string, error) {
	out, err := exec.Command(bin, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w", bin, err)
	}
	var applets []string
	for _, a := range strings.Fields(string(out)) {
		if strings.ContainsAny(a, "/.") {
			continue
		}
		applets = append(applets, a)
	}
	sort.Strings(applets)
	for _, must := range []string{"sh", "ls", "cat", "wget", "nslookup", "sleep"} {
		if sort.SearchStrings(applets, must) == len(applets) || applets[sort.SearchStrings(applets, must)] != must {
			return nil, fmt.Errorf("%s lacks the %s applet", bin, must)
		}
	}
	return applets, nil
}
