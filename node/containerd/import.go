package containerd

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	ctrd "github.com/containerd/containerd"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/platforms"
	"github.com/opencontainers/go-digest"
)

// DefaultSnapshotter is the snapshotter images are unpacked into.
const DefaultSnapshotter = "overlayfs"

// ImageInfo is one image in containerd's image store.
type ImageInfo struct {
	Name    string
	Digest  digest.Digest
	Size    int64 // bytes of content for this platform
	Created time.Time
}

// Import loads an OCI image layout or docker-archive tarball into
// containerd (no registry needed) under namespace ns (empty: "skiff") and
// unpacks each image for this platform into snapshotter (empty: overlayfs),
// so containers can start from it at once.
func Import(ctx context.Context, client *ctrd.Client, ns string, r io.Reader, snapshotter string) ([]ImageInfo, error) {
	ctx = withNamespace(ctx, ns)
	if snapshotter == "" {
		snapshotter = DefaultSnapshotter
	}
	imgs, err := client.Import(ctx, r,
		ctrd.WithImportCompression(),
		ctrd.WithImportPlatform(platforms.Default()),
	)
	if err != nil {
		return nil, fmt.Errorf("import archive: %w (is it an OCI layout or `docker save` tarball?)", err)
	}
	if len(imgs) == 0 {
		return nil, fmt.Errorf("archive holds no named image: tag it (OCI annotation io.containerd.image.name or docker RepoTags)")
	}
	var out []ImageInfo
	for _, img := range imgs {
		image := ctrd.NewImageWithPlatform(client, img, platforms.Default())
		if err := image.Unpack(ctx, snapshotter); err != nil {
			return out, fmt.Errorf("unpack %s into %s: %w", img.Name, snapshotter, err)
		}
		out = append(out, info(ctx, client, img))
	}
	return out, nil
}

// ListImages lists the images in namespace ns, sorted by name.
func ListImages(ctx context.Context, client *ctrd.Client, ns string) ([]ImageInfo, error) {
	ctx = withNamespace(ctx, ns)
	imgs, err := client.ImageService().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	out := make([]ImageInfo, 0, len(imgs))
	for _, img := range imgs {
		out = append(out, info(ctx, client, img))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func info(ctx context.Context, client *ctrd.Client, img images.Image) ImageInfo {
	size, _ := img.Size(ctx, client.ContentStore(), platforms.Default())
	return ImageInfo{Name: img.Name, Digest: img.Target.Digest, Size: size, Created: img.CreatedAt}
}

func withNamespace(ctx context.Context, ns string) context.Context {
	if ns == "" {
		ns = Namespace
	}
	return namespaces.WithNamespace(ctx, ns)
}
