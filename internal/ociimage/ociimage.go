package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// AnnotationImageName is the annotation containerd reads for the full image
// name when importing an OCI layout.
const AnnotationImageName = "io.containerd.image.name"

// EntryType says what an Entry is.
type EntryType int

const (
	// File is a regular file; its content is Data, or the host file Source.
	File EntryType = iota
	// Dir is a directory.
	Dir
	// Symlink is a symbolic link pointing at Linkname.
	Symlink
)

// Entry is one filesystem object in a layer.
type Entry struct {
	// Path inside the image, e.g. "bin/sh" (a leading slash is ignored).
	Path string
	Type EntryType
	// Mode holds permission bits; 0 means 0755 for dirs and 0644 for files.
	Mode fs.FileMode
	// Data is a File's content unless Source is set.
	Data []byte
	// Source is a host path whose content becomes the file's content.
	Source   string
	Linkname string
}

// Config is the runnable part of an image config.
type Config struct {
	Entrypoint   []string
	Cmd          []string
	Env          []string
	WorkingDir   string
	User         string
	Labels       map[string]string
	ExposedPorts []string // "8080/tcp"
}

// Image is one image to put in an archive.
type Image struct {
	// Name is the full reference, e.g. "docker.io/skiff/testapp:v1".
	Name string
	// Layers are applied in order, first is the base.
	Layers [][]Entry
	Config Config
	// Created is the image and file timestamp; zero means the Unix epoch,
	// which keeps digests reproducible.
	Created time.Time
	// Arch and OS default to the running platform (amd64/linux here).
	Arch, OS string
}

type blob struct {
	name string // blobs/sha256/<hex>
	data []byte
}

// Write writes one archive holding all images to w.
func Write(w io.Writer, images ...Image) error {
	if len(images) == 0 {
		return fmt.Errorf("ociimage: no images to write")
	}
	var (
		blobs     []blob
		seen      = map[string]bool{}
		index     = ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
		dockerMfs []dockerManifest
	)
	add := func(data []byte) digest.Digest {
		d := digest.FromBytes(data)
		name := "blobs/sha256/" + d.Encoded()
		if !seen[name] {
			seen[name] = true
			blobs = append(blobs, blob{name: name, data: data})
		}
		return d
	}
	for _, img := range images {
		if img.Name == "" {
			return fmt.Errorf("ociimage: image without a name; set Image.Name such as docker.io/skiff/testapp:v1")
		}
		ts := img.Created
		if ts.IsZero() {
			ts = time.Unix(0, 0).UTC()
		}
		arch, osName := img.Arch, img.OS
		if arch == "" {
			arch = runtime.GOARCH
		}
		if osName == "" {
			osName = runtime.GOOS
		}
		var layerDescs []ocispec.Descriptor
		var diffIDs []digest.Digest
		var dockerLayers []string
		for i, entries := range img.Layers {
			raw, err := layerTar(entries, ts)
			if err != nil {
				return fmt.Errorf("ociimage: %s layer %d: %w", img.Name, i, err)
			}
			gz, err := gzipBytes(raw)
			if err != nil {
				return err
			}
			d := add(gz)
			layerDescs = append(layerDescs, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: d, Size: int64(len(gz))})
			diffIDs = append(diffIDs, digest.FromBytes(raw))
			dockerLayers = append(dockerLayers, "blobs/sha256/"+d.Encoded())
		}
		cfg := ocispec.Image{
			Created:  &ts,
			Platform: ocispec.Platform{Architecture: arch, OS: osName},
			Config: ocispec.ImageConfig{
				Entrypoint: img.Config.Entrypoint,
				Cmd:        img.Config.Cmd,
				Env:        img.Config.Env,
				WorkingDir: img.Config.WorkingDir,
				User:       img.Config.User,
				Labels:     img.Config.Labels,
			},
			RootFS: ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
		}
		if len(img.Config.ExposedPorts) > 0 {
			cfg.Config.ExposedPorts = map[string]struct{}{}
			for _, p := range img.Config.ExposedPorts {
				cfg.Config.ExposedPorts[p] = struct{}{}
			}
		}
		cfgJSON, err := json.Marshal(cfg)
		if err != nil {
			return err
		}
		cfgDigest := add(cfgJSON)
		mf := ocispec.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: ocispec.MediaTypeImageManifest,
			Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cfgDigest, Size: int64(len(cfgJSON))},
			Layers:    layerDescs,
		}
		if mf.Layers == nil {
			mf.Layers = []ocispec.Descriptor{}
		}
		mfJSON, err := json.Marshal(mf)
		if err != nil {
			return err
		}
		mfDigest := add(mfJSON)
		index.Manifests = append(index.Manifests, ocispec.Descriptor{
			MediaType: ocispec.MediaTypeImageManifest,
			Digest:    mfDigest,
			Size:      int64(len(mfJSON)),
			Platform:  &ocispec.Platform{Architecture: arch, OS: osName},
			Annotations: map[string]string{
				AnnotationImageName:       img.Name,
				ocispec.AnnotationRefName: refName(img.Name),
			},
		})
		dockerMfs = append(dockerMfs, dockerManifest{
			Config:   "blobs/sha256/" + cfgDigest.Encoded(),
			RepoTags: []string{dockerTag(img.Name)},
			Layers:   dockerLayers,
		})
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return err
	}
	layoutJSON, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	dockerJSON, err := json.Marshal(dockerMfs)
	if err != nil {
		return err
	}

	tw := tar.NewWriter(w)
	epoch := time.Unix(0, 0).UTC()
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	files := append([]blob{{"oci-layout", layoutJSON}}, blobs...)
	files = append(files, blob{"index.json", indexJSON}, blob{"manifest.json", dockerJSON})
	for _, f := range files {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: epoch, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	return tw.Close()
}

type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// refName is the OCI ref.name: the tag (or digest) part of a reference.
func refName(name string) string {
	if i := strings.LastIndex(name, "@"); i >= 0 {
		return name[i+1:]
	}
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		return name[i+1:]
	}
	return "latest"
}

// dockerTag shortens docker.io/library/x:t to x:t and docker.io/a/b:t to a/b:t,
// the way `docker save` writes RepoTags.
func dockerTag(name string) string {
	name = strings.TrimPrefix(name, "docker.io/")
	return strings.TrimPrefix(name, "library/")
}

// layerTar builds an uncompressed tar of entries, parents before children,
// sorted by path, all owned by root with timestamp ts.
func layerTar(entries []Entry, ts time.Time) ([]byte, error) {
	byPath := map[string]Entry{}
	for _, e := range entries {
		p := path.Clean(strings.TrimPrefix(e.Path, "/"))
		if p == "." || p == "" || strings.HasPrefix(p, "../") || p == ".." {
			return nil, fmt.Errorf("entry path %q is not inside the image", e.Path)
		}
		e.Path = p
		if _, dup := byPath[p]; dup {
			return nil, fmt.Errorf("entry %q given twice", p)
		}
		byPath[p] = e
		// Implicit parent directories.
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if _, ok := byPath[d]; !ok {
				byPath[d] = Entry{Path: d, Type: Dir}
			}
		}
	}
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		e := byPath[p]
		hdr := &tar.Header{Name: p, ModTime: ts, Uid: 0, Gid: 0, Format: tar.FormatPAX}
		mode := e.Mode.Perm()
		switch e.Type {
		case Dir:
			if e.Mode == 0 {
				mode = 0o755
			}
			hdr.Typeflag, hdr.Name = tar.TypeDir, p+"/"
		case Symlink:
			if e.Linkname == "" {
				return nil, fmt.Errorf("symlink %q has no target", p)
			}
			mode = 0o777
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, e.Linkname
		case File:
			data := e.Data
			if e.Source != "" {
				b, err := os.ReadFile(e.Source)
				if err != nil {
					return nil, fmt.Errorf("read %s for %s: %w", e.Source, p, err)
				}
				data = b
				if e.Mode == 0 {
					if st, err := os.Stat(e.Source); err == nil {
						mode = st.Mode().Perm()
					}
				}
			}
			if mode == 0 {
				mode = 0o644
			}
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(data))
			e.Data = data
		default:
			return nil, fmt.Errorf("entry %q has unknown type %d", p, e.Type)
		}
		hdr.Mode = int64(mode)
		if e.Type == Dir && (e.Mode&fs.ModeSticky != 0 || e.Mode&0o1000 != 0) {
			hdr.Mode |= 0o1000 // sticky, for /tmp
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if e.Type == File {
			if _, err := tw.Write(e.Data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func gzipBytes(raw []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	// Header fields left zero (no name, no mtime) keep output reproducible.
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
