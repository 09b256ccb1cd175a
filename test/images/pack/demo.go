package main

import (
	"fmt"
	"os"

	"github.com/skiffnet/skiff/internal/ociimage"
)

// demoBinaries are the static binaries of the nested module test/images/demo
// (its own go.mod keeps go-mysql-server out of Skiff's module).
type demoBinaries struct {
	mysql, blogV1, blogV2 string
}

// demoImages makes the images of the blog-and-MySQL tutorial on top of the
// shared busybox base, so `kubectl exec` finds sh, nc, wget and nslookup:
//
//	docker.io/skiff/mysql:v1  /usr/sbin/mysqld, port 3306, env as the official mysql image;
//	                          /usr/bin/mysql and /usr/bin/mysqladmin link to it (clients)
//	docker.io/skiff/blog:v1   /blog (also in PATH as blog), port 8080
//	docker.io/skiff/blog:v2   /blog built with version v2 (different page header)
func demoImages(base []ociimage.Entry, b demoBinaries) ([]ociimage.Image, error) {
	for flag, path := range map[string]string{"--mysql": b.mysql, "--blog-v1": b.blogV1, "--blog-v2": b.blogV2} {
		if path == "" {
			return nil, fmt.Errorf("%s is required with the other demo flags (test/images/build.sh builds all three)", flag)
		}
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("%s: %w (build it from test/images/demo with CGO_ENABLED=0)", flag, err)
		}
	}
	imgs := []ociimage.Image{{
		Name: "docker.io/skiff/mysql:v1",
		Layers: [][]ociimage.Entry{base, {
			{Path: "usr/sbin/mysqld", Source: b.mysql, Mode: 0o755},
			{Path: "usr/bin/mysql", Type: ociimage.Symlink, Linkname: "../sbin/mysqld"},
			{Path: "usr/bin/mysqladmin", Type: ociimage.Symlink, Linkname: "../sbin/mysqld"},
			{Path: "var/lib/mysql", Type: ociimage.Dir}, // where tutorials mount a volume
		}},
		Config: ociimage.Config{
			Entrypoint:   []string{"/usr/sbin/mysqld"},
			Env:          []string{"PATH=/usr/sbin:/usr/bin:/bin"},
			Labels:       map[string]string{"org.opencontainers.image.version": "v1", "org.opencontainers.image.title": "skiff demo mysql (in-memory, go-mysql-server)"},
			ExposedPorts: []string{"3306/tcp"},
		},
	}}
	for _, v := range []struct{ tag, bin string }{{"v1", b.blogV1}, {"v2", b.blogV2}} {
		imgs = append(imgs, ociimage.Image{
			Name: "docker.io/skiff/blog:" + v.tag,
			Layers: [][]ociimage.Entry{base, {
				{Path: "blog", Source: v.bin, Mode: 0o755},
				// `kubectl exec deploy/blog -- blog dbcheck` finds it in PATH.
				{Path: "usr/local/bin/blog", Type: ociimage.Symlink, Linkname: "/blog"},
			}},
			Config: ociimage.Config{
				Entrypoint:   []string{"/blog"},
				Env:          []string{"PATH=/usr/local/bin:/bin"},
				Labels:       map[string]string{"org.opencontainers.image.version": v.tag, "org.opencontainers.image.title": "skiff demo blog"},
				ExposedPorts: []string{"8080/tcp"},
			},
		})
	}
	return imgs, nil
}
