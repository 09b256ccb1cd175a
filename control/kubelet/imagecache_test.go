package kubelet

import (
	"bytes"
	"context"
	"testing"
	"time"

	ctrd "github.com/containerd/containerd"
	"github.com/containerd/containerd/content"
	"github.com/containerd/containerd/images"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// countingImage is a containerd image that counts what it is asked.
type countingImage struct {
	ctrd.Image // nil: only the methods below are used
	meta       images.Image
	store      *countingStore
	unpacked   bool
	calls      map[string]int
}

func (i *countingImage) Metadata() images.Image { return i.meta }
func (i *countingImage) Config(context.Context) (ocispec.Descriptor, error) {
	i.calls["config"]++
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromString("cfg")}, nil
}
func (i *countingImage) RootFS(context.Context) ([]digest.Digest, error) {
	i.calls["rootfs"]++
	return []digest.Digest{digest.FromString("layer")}, nil
}
func (i *countingImage) IsUnpacked(context.Context, string) (bool, error) {
	i.calls["unpacked"]++
	return i.unpacked, nil
}
func (i *countingImage) ContentStore() content.Store { return i.store }

type countingStore struct {
	content.Store // nil: only ReaderAt is used
	blobs         map[digest.Digest][]byte
	reads         int
}

func (s *countingStore) ReaderAt(_ context.Context, d ocispec.Descriptor) (content.ReaderAt, error) {
	s.reads++
	return blobReader{bytes.NewReader(s.blobs[d.Digest])}, nil
}

func TestImageCacheAsksContainerdOncePerImage(t *testing.T) {
	ctx := context.Background()
	blob := []byte(`{"config":{}}`)
	tampered := []byte(`{"config":{"Env":["X=1"]}}`)
	store := &countingStore{blobs: map[digest.Digest][]byte{
		digest.FromBytes(blob):                              blob,
		digest.FromString("a name this blob does not have"): tampered,
	}}
	img := &countingImage{meta: images.Image{Name: "docker.io/x/y:1", Target: ocispec.Descriptor{Digest: digest.FromString("m")}, CreatedAt: time.Unix(1, 0)},
		store: store, calls: map[string]int{}}
	c := newImageCache()

	for n := 0; n < 3; n++ {
		w := c.wrap(img)
		if _, err := w.Config(ctx); err != nil {
			t.Fatal(err)
		}
		if r, err := w.RootFS(ctx); err != nil || len(r) != 1 {
			t.Fatalf("RootFS = %v, %v", r, err)
		}
		if ok, _ := w.IsUnpacked(ctx, "overlayfs"); ok != img.unpacked {
			t.Fatalf("IsUnpacked = %v, want %v", ok, img.unpacked)
		}
		img.unpacked = true // unpacked after the first start
		got, err := content.ReadBlob(ctx, w.ContentStore(), ocispec.Descriptor{Digest: digest.FromBytes(blob), Size: int64(len(blob))})
		if err != nil || string(got) != string(blob) {
			t.Fatalf("ReadBlob = %q, %v", got, err)
		}
	}
	// "not unpacked" is asked again, "unpacked" is remembered.
	if img.calls["config"] != 1 || img.calls["rootfs"] != 1 || img.calls["unpacked"] != 2 || store.reads != 1 {
		t.Fatalf("containerd asked %v, %d blob reads; want config and rootfs once, unpacked twice, one read", img.calls, store.reads)
	}

	// A blob whose bytes do not match its digest is never served from memory.
	d := ocispec.Descriptor{Digest: digest.FromString("a name this blob does not have"), Size: int64(len(tampered))}
	for n := 0; n < 2; n++ {
		content.ReadBlob(ctx, c.wrap(img).ContentStore(), d)
	}
	if store.reads != 1+2*2 {
		t.Fatalf("mismatching blob: %d reads, want each read to reach the store", store.reads-1)
	}

	// A snapshot removed behind our back: asked again.
	c.forgetUnpacked(img)
	c.wrap(img).IsUnpacked(ctx, "overlayfs")
	if img.calls["unpacked"] != 3 {
		t.Fatalf("after forgetUnpacked: unpacked asked %d times, want 3", img.calls["unpacked"])
	}

	// The same name re-imported (a new record) is a new image.
	img.meta.UpdatedAt = time.Unix(2, 0)
	c.wrap(img).Config(ctx)
	if img.calls["config"] != 2 {
		t.Fatalf("re-imported image: config asked %d times, want 2", img.calls["config"])
	}
}
