package kubelet

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	ctrd "github.com/containerd/containerd"
	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/content"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// imageCache remembers, per image, what a container start asks containerd
// for every time: the image's config descriptor and root filesystem
// (read from its index, manifest and config blobs) and whether it is
// unpacked. Content is addressed by digest and never changes, so those
// answers hold for as long as the image record is the same (same target,
// created and updated at the same times). Only "unpacked" is remembered,
// never "not unpacked".
type imageCache struct {
	mu     sync.Mutex
	images map[string]*imageFacts   // by imageKey
	blobs  map[digest.Digest][]byte // small blobs: indexes, manifests, configs
}

type imageFacts struct {
	config   *ocispec.Descriptor
	rootfs   []digest.Digest
	unpacked map[string]bool // by snapshotter
}

// maxCachedBlob and maxCachedBlobs bound the blob cache: configs and
// manifests are a few KiB; layers are never read through it.
const (
	maxCachedBlob  = 256 << 10
	maxCachedBlobs = 256
	maxCachedImgs  = 256
)

func newImageCache() *imageCache {
	return &imageCache{images: map[string]*imageFacts{}, blobs: map[digest.Digest][]byte{}}
}

func imageKey(img ctrd.Image) string {
	m := img.Metadata()
	return fmt.Sprintf("%s\x00%s\x00%d\x00%d", m.Name, m.Target.Digest, m.CreatedAt.UnixNano(), m.UpdatedAt.UnixNano())
}

// wrap returns img answering Config, RootFS, IsUnpacked and small content
// reads from the cache.
func (c *imageCache) wrap(img ctrd.Image) ctrd.Image {
	return &cachedImage{Image: img, c: c, f: c.facts(imageKey(img))}
}

func (c *imageCache) facts(key string) *imageFacts {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.images[key]
	if f == nil {
		if len(c.images) >= maxCachedImgs {
			clear(c.images)
		}
		f = &imageFacts{unpacked: map[string]bool{}}
		c.images[key] = f
	}
	return f
}

// forgetUnpacked drops the "unpacked" answer for img, after a container
// could not be made from its snapshot (removed behind our back).
func (c *imageCache) forgetUnpacked(img ctrd.Image) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := c.images[imageKey(img)]; f != nil {
		clear(f.unpacked)
	}
}

type cachedImage struct {
	ctrd.Image
	c *imageCache
	f *imageFacts // guarded by c.mu
}

func (i *cachedImage) Config(ctx context.Context) (ocispec.Descriptor, error) {
	f := i.f
	i.c.mu.Lock()
	d := f.config
	i.c.mu.Unlock()
	if d != nil {
		return *d, nil
	}
	desc, err := i.Image.Config(ctx)
	if err != nil {
		return desc, err
	}
	i.c.mu.Lock()
	f.config = &desc
	i.c.mu.Unlock()
	return desc, nil
}

func (i *cachedImage) RootFS(ctx context.Context) ([]digest.Digest, error) {
	f := i.f
	i.c.mu.Lock()
	r := f.rootfs
	i.c.mu.Unlock()
	if r != nil {
		return append([]digest.Digest(nil), r...), nil
	}
	r, err := i.Image.RootFS(ctx)
	if err != nil {
		return nil, err
	}
	i.c.mu.Lock()
	f.rootfs = append([]digest.Digest(nil), r...)
	i.c.mu.Unlock()
	return r, nil
}

func (i *cachedImage) IsUnpacked(ctx context.Context, snapshotter string) (bool, error) {
	f := i.f
	i.c.mu.Lock()
	ok := f.unpacked[snapshotter]
	i.c.mu.Unlock()
	if ok {
		return true, nil
	}
	ok, err := i.Image.IsUnpacked(ctx, snapshotter)
	if ok && err == nil {
		i.c.mu.Lock()
		f.unpacked[snapshotter] = true
		i.c.mu.Unlock()
	}
	return ok, err
}

func (i *cachedImage) ContentStore() content.Store {
	return &cachedStore{Store: i.Image.ContentStore(), c: i.c}
}

// cachedStore serves small blobs from memory after their first read.
type cachedStore struct {
	content.Store
	c *imageCache
}

func (s *cachedStore) ReaderAt(ctx context.Context, desc ocispec.Descriptor) (content.ReaderAt, error) {
	if desc.Size <= 0 || desc.Size > maxCachedBlob {
		return s.Store.ReaderAt(ctx, desc)
	}
	s.c.mu.Lock()
	b, ok := s.c.blobs[desc.Digest]
	s.c.mu.Unlock()
	if !ok {
		var err error
		if b, err = content.ReadBlob(ctx, s.Store, desc); err != nil {
			return nil, err
		}
		if desc.Digest.Validate() != nil || desc.Digest.Algorithm().FromBytes(b) != desc.Digest {
			return s.Store.ReaderAt(ctx, desc) // never cache what does not match its name
		}
		s.c.mu.Lock()
		if len(s.c.blobs) >= maxCachedBlobs {
			clear(s.c.blobs)
		}
		s.c.blobs[desc.Digest] = b
		s.c.mu.Unlock()
	}
	return blobReader{bytes.NewReader(b)}, nil
}

type blobReader struct{ *bytes.Reader }

func (blobReader) Close() error { return nil }

// withRootfsSnapshot prepares the container's writable root filesystem on
// image's unpacked layers, as containerd's WithNewSnapshot does, without
// asking containerd for the snapshotter's capabilities on every container
// (an introspection call that only matters for user-namespace remapping,
// which the kubelet does not use). Call after WithSnapshotter.
func withRootfsSnapshot(id string, image ctrd.Image) ctrd.NewContainerOpts {
	return func(ctx context.Context, client *ctrd.Client, c *containers.Container) error {
		diffIDs, err := image.RootFS(ctx)
		if err != nil {
			return err
		}
		if _, err := client.SnapshotService(c.Snapshotter).Prepare(ctx, id, identity.ChainID(diffIDs).String()); err != nil {
			return err
		}
		c.SnapshotKey = id
		c.Image = image.Name()
		return nil
	}
}
