package kubelet

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestLogClock(t *testing.T) {
	var c logClock
	t0 := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	path := "/x/0.log"
	// First seen with 10 bytes; the instance started 5 s earlier.
	c.observe(path, 10, t0, t0.Add(-5*time.Second))
	c.observe(path, 10, t0.Add(time.Second), time.Time{})
	c.observe(path, 25, t0.Add(2*time.Second), time.Time{})
	c.observe(path, 40, t0.Add(3*time.Second), time.Time{})
	c.observe(path, 40, t0.Add(10*time.Second), time.Time{})
	for _, tc := range []struct {
		at   time.Time
		want int64
	}{
		{t0.Add(-time.Minute), 0},             // before anything: everything
		{t0.Add(-time.Second), 0},             // after the start, before the first sample: all may be newer
		{t0.Add(1500 * time.Millisecond), 10}, // output after 10 bytes came later
		{t0.Add(2 * time.Second), 25},
		{t0.Add(5 * time.Second), 40}, // nothing written since
		{t0.Add(time.Hour), 40},
	} {
		if got := c.offsetSince(path, tc.at); got != tc.want {
			t.Errorf("offsetSince(%v) = %d, want %d", tc.at.Sub(t0), got, tc.want)
		}
	}
	if got := c.timeAt(path, 12); !got.Equal(t0.Add(2 * time.Second)) {
		t.Errorf("timeAt(12) = %v", got)
	}
	if got := c.timeAt(path, 40); !got.IsZero() {
		t.Errorf("timeAt past the last sample = %v, want zero", got)
	}
	if got := c.offsetSince("/unknown", t0); got != 0 {
		t.Errorf("unknown file: %d", got)
	}
	// Thinning keeps the history bounded and ordered.
	for i := 0; i < 3*maxLogMarks; i++ {
		c.observe(path, int64(100+i), t0.Add(time.Duration(20+i)*time.Second), time.Time{})
	}
	m := c.files[path].marks
	if len(m) > maxLogMarks {
		t.Fatalf("%d marks kept", len(m))
	}
	for i := 1; i < len(m); i++ {
		if !m[i].at.After(m[i-1].at) || m[i].size <= m[i-1].size {
			t.Fatalf("marks out of order at %d: %+v %+v", i, m[i-1], m[i])
		}
	}
	c.forget(map[string]bool{})
	if len(c.files) != 0 {
		t.Fatal("forget kept files")
	}
}

func TestStampReaderAndLineStart(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "0.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	content := "first\nsecond line\nthird\n"
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	for off, want := range map[int64]int64{0: 0, 3: 0, 6: 6, 10: 6, 18: 18, 20: 18} {
		if got := lineStart(f, off); got != want {
			t.Errorf("lineStart(%d) = %d, want %d", off, got, want)
		}
	}
	var c logClock
	t0 := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	c.observe(f.Name(), 6, t0, time.Time{})
	c.observe(f.Name(), 18, t0.Add(time.Second), time.Time{})
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	before := time.Now().UTC()
	r := newStampReader(io.NopCloser(iotestHalf{f}), &c, f.Name(), 0)
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 3 || lines[0] != "2026-01-01T10:00:00Z first" || lines[1] != "2026-01-01T10:00:01Z second line" {
		t.Fatalf("stamped: %q", b)
	}
	ts, rest, _ := strings.Cut(lines[2], " ")
	at, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil || rest != "third" || at.Before(before.Add(-time.Second)) {
		t.Fatalf("unsampled line: %q (%v)", lines[2], err)
	}
}

// iotestHalf returns at most 4 bytes per read, splitting lines across reads.
type iotestHalf struct{ r io.Reader }

func (h iotestHalf) Read(p []byte) (int, error) {
	if len(p) > 4 {
		p = p[:4]
	}
	return h.r.Read(p)
}

func TestRegisterNodeKubeletPort(t *testing.T) {
	ctx := context.Background()
	client := fake.NewSimpleClientset()
	if _, err := RegisterNode(ctx, client, NodeInfo{Name: "n1", IP: "192.0.2.7", PodCIDR: "10.244.3.0/24", KubeletPort: 10250}); err != nil {
		t.Fatal(err)
	}
	n, err := client.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n.Status.DaemonEndpoints.KubeletEndpoint.Port != 10250 {
		t.Fatalf("kubelet endpoint: %+v", n.Status.DaemonEndpoints)
	}
}
