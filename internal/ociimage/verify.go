package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"path"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ImageInfo describes one image found by Verify.
type ImageInfo struct {
	Name     string
	Manifest digest.Digest
	Config   ocispec.Image
	// Files maps every path in the image's layers to its tar header.
	Files map[string]*tar.Header
}

// maxArchive bounds what Verify reads into memory.
const maxArchive = 1 << 30

// Verify reads an OCI image layout archive and checks it: oci-layout version,
// index.json, every manifest, config and layer blob present with matching
// digest and size, and each layer's uncompressed digest equal to the config's
// diff_id. It also checks a docker-archive manifest.json when present.
func Verify(r io.Reader) ([]ImageInfo, error) {
	files := map[string][]byte{}
	tr := tar.NewReader(io.LimitReader(r, maxArchive))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read archive: %w", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", hdr.Name, err)
		}
		files[path.Clean(hdr.Name)] = b
	}
	var layout ocispec.ImageLayout
	if err := unmarshalFile(files, "oci-layout", &layout); err != nil {
		return nil, err
	}
	if layout.Version != ocispec.ImageLayoutVersion {
		return nil, fmt.Errorf("oci-layout version %q, want %q", layout.Version, ocispec.ImageLayoutVersion)
	}
	var index ocispec.Index
	if err := unmarshalFile(files, "index.json", &index); err != nil {
		return nil, err
	}
	if len(index.Manifests) == 0 {
		return nil, fmt.Errorf("index.json lists no manifests")
	}
	var out []ImageInfo
	for _, md := range index.Manifests {
		mfData, err := blobFor(files, md)
		if err != nil {
			return nil, fmt.Errorf("manifest: %w", err)
		}
		var mf ocispec.Manifest
		if err := json.Unmarshal(mfData, &mf); err != nil {
			return nil, fmt.Errorf("manifest %s: %w", md.Digest, err)
		}
		cfgData, err := blobFor(files, mf.Config)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		info := ImageInfo{Name: md.Annotations[AnnotationImageName], Manifest: md.Digest, Files: map[string]*tar.Header{}}
		if err := json.Unmarshal(cfgData, &info.Config); err != nil {
			return nil, fmt.Errorf("config %s: %w", mf.Config.Digest, err)
		}
		if len(info.Config.RootFS.DiffIDs) != len(mf.Layers) {
			return nil, fmt.Errorf("image %s: %d layers but %d diff_ids", info.Name, len(mf.Layers), len(info.Config.RootFS.DiffIDs))
		}
		for i, ld := range mf.Layers {
			gz, err := blobFor(files, ld)
			if err != nil {
				return nil, fmt.Errorf("layer %d: %w", i, err)
			}
			zr, err := gzip.NewReader(bytes.NewReader(gz))
			if err != nil {
				return nil, fmt.Errorf("layer %d: %w", i, err)
			}
			raw, err := io.ReadAll(zr)
			if err != nil {
				return nil, fmt.Errorf("layer %d: %w", i, err)
			}
			if got := digest.FromBytes(raw); got != info.Config.RootFS.DiffIDs[i] {
				return nil, fmt.Errorf("layer %d diff_id %s, config says %s", i, got, info.Config.RootFS.DiffIDs[i])
			}
			lr := tar.NewReader(bytes.NewReader(raw))
			for {
				h, err := lr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					return nil, fmt.Errorf("layer %d tar: %w", i, err)
				}
				info.Files[path.Clean(h.Name)] = h
			}
		}
		out = append(out, info)
	}
	if data, ok := files["manifest.json"]; ok {
		var dm []dockerManifest
		if err := json.Unmarshal(data, &dm); err != nil {
			return nil, fmt.Errorf("manifest.json: %w", err)
		}
		for _, m := range dm {
			for _, f := range append([]string{m.Config}, m.Layers...) {
				if _, ok := files[path.Clean(f)]; !ok {
					return nil, fmt.Errorf("manifest.json names %s, which the archive lacks", f)
				}
			}
		}
	}
	return out, nil
}

func unmarshalFile(files map[string][]byte, name string, v any) error {
	data, ok := files[name]
	if !ok {
		return fmt.Errorf("archive has no %s: not an OCI image layout", name)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func blobFor(files map[string][]byte, d ocispec.Descriptor) ([]byte, error) {
	if err := d.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("bad digest %q: %w", d.Digest, err)
	}
	name := "blobs/" + string(d.Digest.Algorithm()) + "/" + d.Digest.Encoded()
	data, ok := files[name]
	if !ok {
		return nil, fmt.Errorf("blob %s missing", name)
	}
	if int64(len(data)) != d.Size {
		return nil, fmt.Errorf("blob %s is %d bytes, descriptor says %d", name, len(data), d.Size)
	}
	if got := sha256Hex(data); d.Digest.Algorithm() != digest.SHA256 || got != d.Digest.Encoded() {
		return nil, fmt.Errorf("blob %s has digest sha256:%s", name, got)
	}
	return data, nil
}
