package benchproc

import (
	"os"
	"testing"
)

func TestRSSOfThisProcess(t *testing.T) {
	cur, peak, err := RSS(os.Getpid())
	if err != nil || cur <= 0 || peak < cur {
		t.Fatalf("RSS = %d, peak %d, %v", cur, peak, err)
	}
	anon, file, err := RSSParts(os.Getpid())
	if err != nil || anon <= 0 || file <= 0 || anon+file > peak*2 {
		t.Fatalf("RSSParts = %d anon, %d file, %v (RSS %d)", anon, file, err, cur)
	}
	if _, _, err := RSS(-1); err == nil {
		t.Fatal("no error for a missing process")
	}
}
